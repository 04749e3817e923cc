"""A Starlette app whose /things route needs an authgate access token.

AUTHGATE_ISSUER=http://localhost:8000 python examples/starlette_app.py   # port 8002
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import authgate.verifier.starlette as authgate_starlette
from authgate import Verifier

verifier = Verifier.from_settings({"AUTHGATE_ISSUER": "http://localhost:8000", **os.environ})


@requires("authenticated")
async def things(request: Request) -> JSONResponse:
    claims = request.user.claims
    return JSONResponse({"owner": claims.subject, "email": claims.email, "things": ["a lamp"]})


app = Starlette(
    routes=[Route("/things", things)],
    middleware=[authgate_starlette.middleware(verifier)],
    exception_handlers=authgate_starlette.CHALLENGES,
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8002")))
