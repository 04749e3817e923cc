"""A FastAPI app whose /things route needs an authgate access token.

AUTHGATE_ISSUER=http://localhost:8000 python examples/fastapi_app.py   # port 8001
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from authgate import AccessClaims, Verifier
from authgate.verifier.fastapi import RequireUser

# AUTHGATE_ISSUER, AUTHGATE_AUDIENCE, AUTHGATE_REDIS_URL, …: see Verifier.from_settings.
verifier = Verifier.from_settings({"AUTHGATE_ISSUER": "http://localhost:8000", **os.environ})
require_user = RequireUser(verifier)

app = FastAPI(title="things")


@app.get("/things")
async def things(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, object]:
    return {"owner": claims.subject, "email": claims.email, "things": ["a teapot", "a lamp"]}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8001")))
