"""Starlette with authgate's AuthenticationMiddleware: GET /open and GET /guarded.

The middleware wraps /guarded only (Starlette's per-route middleware): on the whole app it
would verify the Bearer header that wrk sends to /open as well, and /open would not be
unguarded. `@requires("authenticated")` is the adapter's documented use. GET /null-guard, a
reference, has the same middleware and decorator with a backend that checks nothing:
Starlette's own cost, the least any guard built on its authentication can cost.

    BENCH_ADAPTERS_DIR=... uvicorn --app-dir bench/adapters starlette_app:app
"""

from __future__ import annotations

from material import verifier_settings
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    SimpleUser,
    requires,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import authgate.verifier.starlette as authgate_starlette
from authgate import Verifier

verifier = Verifier.from_settings(verifier_settings())


async def open_route(request: Request) -> JSONResponse:
    return JSONResponse({"sub": "anonymous"})


@requires("authenticated")
async def guarded(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.claims.subject})


class Anyone(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        return AuthCredentials(["authenticated"]), SimpleUser("anonymous")


@requires("authenticated")
async def null_guarded(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.display_name})


app = Starlette(
    routes=[
        Route("/open", open_route),
        Route("/guarded", guarded, middleware=[authgate_starlette.middleware(verifier)]),
        Route(
            "/null-guard",
            null_guarded,
            middleware=[Middleware(AuthenticationMiddleware, backend=Anyone())],
        ),
    ],
    exception_handlers=authgate_starlette.CHALLENGES,
)
