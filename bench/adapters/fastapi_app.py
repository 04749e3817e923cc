"""FastAPI with authgate's RequireUser: GET /open (no guard) and GET /guarded, same handler body.

GET /null-guard, a reference, depends on a dependency that checks nothing: what one
dependency costs in FastAPI itself, the least any guard written as one can cost.

    BENCH_ADAPTERS_DIR=... uvicorn --app-dir bench/adapters fastapi_app:app
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from material import verifier_settings

from authgate import AccessClaims, Verifier
from authgate.verifier.fastapi import RequireUser

require_user = RequireUser(Verifier.from_settings(verifier_settings()))

app = FastAPI()


@app.get("/open")
async def open_route() -> dict[str, str]:
    return {"sub": "anonymous"}


@app.get("/guarded")
async def guarded(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, str]:
    return {"sub": claims.subject}


async def anyone() -> str:
    return "anonymous"


@app.get("/null-guard")
async def null_guarded(subject: Annotated[str, Depends(anyone)]) -> dict[str, str]:
    return {"sub": subject}
