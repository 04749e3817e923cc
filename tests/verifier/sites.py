"""The same two routes on every framework an adapter serves, behind each one's test client.

`/me` needs any valid token and answers its claims; `/things` needs the scope read:things.
Each site is built from one settings mapping (the names of Verifier.from_settings), so the
same contract runs against FastAPI, Starlette, Flask, Django and Django REST framework.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of routes
# defined inside functions, which only evaluated annotations make resolvable.
import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from authgate import AccessClaims, Verifier


@dataclass(frozen=True)
class Answer:
    status: int
    challenge: str | None
    body: Any


class Site(Protocol):
    def get(self, path: str, authorization: str | None = None) -> Answer: ...


def described(claims: AccessClaims) -> dict[str, object]:
    return {"sub": claims.subject, "email": claims.email, "scopes": sorted(claims.scopes)}


class _HttpxLikeSite:
    """Starlette's TestClient (FastAPI's too) and Django's test clients answer alike."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix

    def get(self, path: str, authorization: str | None = None) -> Answer:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = self.client.get(self.prefix + path, headers=headers)
        return Answer(
            response.status_code, response.headers.get("WWW-Authenticate"), response.json()
        )


@contextlib.contextmanager
def fastapi_site(settings: Mapping[str, object]) -> Iterator[Site]:
    from fastapi import Depends, FastAPI, Security
    from fastapi.testclient import TestClient

    from authgate.verifier.fastapi import RequireUser

    verifier = Verifier.from_settings(settings, prefix="")
    require_user = RequireUser(verifier)
    app = FastAPI()

    @app.get("/me")
    async def me(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, object]:
        return described(claims)

    @app.get("/things")
    def things(
        claims: Annotated[AccessClaims, Depends(require_user.with_scopes("read:things"))],
    ) -> dict[str, object]:
        return described(claims)

    @app.get("/things-by-security")
    def things_by_security(
        claims: Annotated[AccessClaims, Security(require_user, scopes=["read:things"])],
    ) -> dict[str, object]:
        return described(claims)

    with verifier, TestClient(app) as client:
        yield _HttpxLikeSite(client)


@contextlib.contextmanager
def starlette_site(settings: Mapping[str, object]) -> Iterator[Site]:
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from authgate.verifier.starlette import CHALLENGES, middleware

    verifier = Verifier.from_settings(settings, prefix="")

    @requires("authenticated")
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({**described(request.user.claims), "auth": request.auth.scopes})

    @requires(["authenticated", "read:things"])
    async def things(request: Request) -> JSONResponse:
        return JSONResponse(described(request.user.claims))

    async def public(request: Request) -> JSONResponse:
        return JSONResponse({"authenticated": request.user.is_authenticated})

    app = Starlette(
        routes=[Route("/me", me), Route("/things", things), Route("/public", public)],
        middleware=[middleware(verifier)],
        exception_handlers=CHALLENGES,
    )
    with verifier, TestClient(app) as client:
        yield _HttpxLikeSite(client)


class _FlaskSite:
    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, authorization: str | None = None) -> Answer:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = self.client.get(path, headers=headers)
        return Answer(
            response.status_code, response.headers.get("WWW-Authenticate"), response.get_json()
        )


@contextlib.contextmanager
def flask_site(settings: Mapping[str, object]) -> Iterator[Site]:
    from flask import Flask, g

    from authgate.verifier.flask import AuthGate, require_token

    verifier = Verifier.from_settings(settings, prefix="")
    app = Flask(__name__)
    AuthGate(app, verifier)

    @app.get("/me")
    @require_token()
    def me() -> dict[str, object]:
        return described(g.authgate_claims)

    @app.get("/things")
    @require_token(scopes=["read:things"])
    def things() -> dict[str, object]:
        return described(g.authgate_claims)

    @app.get("/me-async")
    @require_token()
    async def me_async() -> dict[str, object]:
        return described(g.authgate_claims)

    with verifier:
        yield _FlaskSite(app.test_client())


@contextlib.contextmanager
def django_site(settings: Mapping[str, object], *, prefix: str = "") -> Iterator[Site]:
    importlib.import_module(f"{__package__}.django_site")  # configures Django, so it goes first
    from django.test import Client, override_settings
    from rest_framework.test import APIClient

    client = APIClient() if prefix else Client()
    with override_settings(AUTHGATE=dict(settings)):
        yield _HttpxLikeSite(client, prefix)


@contextlib.contextmanager
def rest_framework_site(settings: Mapping[str, object]) -> Iterator[Site]:
    with django_site(settings, prefix="/api") as site:
        yield site


SITES: dict[str, Callable[[Mapping[str, object]], contextlib.AbstractContextManager[Site]]] = {
    "fastapi": fastapi_site,
    "starlette": starlette_site,
    "flask": flask_site,
    "django": django_site,
    "rest-framework": rest_framework_site,
}
