"""The same three step-up routes on every framework an adapter serves (RFC 9470).

`/plain` needs a valid token and nothing more, `/recent` a sign-in (`auth_time`) within 300
seconds, `/otp` a sign-in that used a one-time password (`amr`). Each answers `{"sub"}`.
Every site trusts `key` and checks time with the real clock, as Django's one Verifier does.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of routes
# defined inside functions, which only evaluated annotations make resolvable.
import contextlib
import importlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated

from authgate import AccessClaims, SigningKey, StaticKeys, Verifier

from .sites import Site, _FlaskSite, _HttpxLikeSite

ISSUER = "https://auth.example"
MAX_AGE = 300


def _verifier(key: SigningKey) -> Verifier:
    return Verifier(ISSUER, keys=StaticKeys([key]))


@contextlib.contextmanager
def fastapi_site(key: SigningKey) -> Iterator[Site]:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from authgate.verifier.fastapi import RequireUser

    verifier = _verifier(key)
    require_user = RequireUser(verifier)
    recent_user = require_user.with_step_up(max_age=MAX_AGE)
    otp_user = RequireUser(verifier, require_amr=["otp"])
    app = FastAPI()

    @app.get("/plain")
    def plain(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, str]:
        return {"sub": claims.subject}

    @app.get("/recent")
    async def recent(claims: Annotated[AccessClaims, Depends(recent_user)]) -> dict[str, str]:
        return {"sub": claims.subject}

    @app.get("/otp")
    def otp(claims: Annotated[AccessClaims, Depends(otp_user)]) -> dict[str, str]:
        return {"sub": claims.subject}

    with verifier, TestClient(app) as client:
        yield _HttpxLikeSite(client)


@contextlib.contextmanager
def starlette_site(key: SigningKey) -> Iterator[Site]:
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from authgate.verifier.starlette import CHALLENGES, middleware, requires_step_up

    verifier = _verifier(key)

    @requires("authenticated")
    async def plain(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.claims.subject})

    @requires_step_up(max_age=timedelta(seconds=MAX_AGE))
    async def recent(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.claims.subject})

    @requires_step_up(require_amr=["otp"])
    def otp(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.claims.subject})

    app = Starlette(
        routes=[Route("/plain", plain), Route("/recent", recent), Route("/otp", otp)],
        middleware=[middleware(verifier)],
        exception_handlers=CHALLENGES,
    )
    with verifier, TestClient(app) as client:
        yield _HttpxLikeSite(client)


@contextlib.contextmanager
def flask_site(key: SigningKey) -> Iterator[Site]:
    from flask import Flask, g

    from authgate.verifier.flask import AuthGate, require_token

    verifier = _verifier(key)
    app = Flask(__name__)
    AuthGate(app, verifier)

    @app.get("/plain")
    @require_token()
    def plain() -> dict[str, str]:
        return {"sub": g.authgate_claims.subject}

    @app.get("/recent")
    @require_token(max_age=MAX_AGE)
    def recent() -> dict[str, str]:
        return {"sub": g.authgate_claims.subject}

    @app.get("/otp")
    @require_token(require_amr=["otp"])
    async def otp() -> dict[str, str]:
        return {"sub": g.authgate_claims.subject}

    with verifier:
        yield _FlaskSite(app.test_client())


@contextlib.contextmanager
def django_site(key: SigningKey, *, prefix: str = "") -> Iterator[Site]:
    urls = importlib.import_module(f"{__package__}.django_step_up")  # configures Django first
    from django.test import Client, override_settings
    from rest_framework.test import APIClient

    client = APIClient() if prefix else Client()
    settings = {"ISSUER": ISSUER, "KEYS": {"keys": [key.public_jwk()]}}
    with override_settings(ROOT_URLCONF=urls.__name__, AUTHGATE=settings):
        yield _HttpxLikeSite(client, prefix)


@contextlib.contextmanager
def rest_framework_site(key: SigningKey) -> Iterator[Site]:
    with django_site(key, prefix="/api") as site:
        yield site


STEP_UP_SITES: dict[str, Callable[[SigningKey], contextlib.AbstractContextManager[Site]]] = {
    "fastapi": fastapi_site,
    "starlette": starlette_site,
    "flask": flask_site,
    "django": django_site,
    "rest-framework": rest_framework_site,
}
