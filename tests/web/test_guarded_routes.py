"""The guard at the ASGI layer (web/guarded.py): every guarded route, one check, one answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from authgate.web.guarded import Claims, GuardedRoutes
from authgate.web.routes import router
from authgate.web.transport import presented
from helpers import PASSWORD, sign_up_and_in


def without_guard_layer(app: FastAPI) -> FastAPI:
    """The same app with every route left to FastAPI's router and the `Claims` dependency."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not GuardedRoutes]
    return app


@pytest.fixture
def routed(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = without_guard_layer(create_app(settings, clock=clock, preset=FAST_FOR_TESTS))
    with TestClient(app) as client:  # the lifespan closes the app's database connections
        yield client


Answer = tuple[int, str, str | None, str | None]


def answer(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Answer:
    response = client.request(method, path, headers=headers)
    return (
        response.status_code,
        response.text,
        response.headers.get("www-authenticate"),
        response.headers.get("content-type"),
    )


AUTHORIZATIONS = [
    pytest.param("valid", id="valid-token"),
    pytest.param(None, id="no-header"),
    pytest.param("Basic YTpi", id="basic-scheme"),
    pytest.param("Bearer not-a-token", id="garbage"),
    pytest.param("Bearer ", id="empty-token"),
    pytest.param("bearer valid", id="lowercase-scheme"),
]
# Every direct route; the DELETE names a session nobody has, so it is a 404 when admitted.
DIRECT_ROUTES = [
    ("GET", "/test"),
    ("GET", "/me"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions/no-such-session"),
    ("POST", "/sign-out-all"),
]


def headers_for(client: TestClient, authorization: str | None) -> dict[str, str]:
    """The Authorization header to send; "valid" stands for a token of a new sign-in."""
    if authorization is None:
        return {}
    if "valid" in authorization:
        form = {"email": "ada@example.com", "password": PASSWORD}
        token = client.post("/sign-in", json=form).json()["access_token"]
        authorization = "Bearer valid" if authorization == "valid" else authorization
        authorization = authorization.replace("valid", token)
    return {"Authorization": authorization}


@pytest.mark.parametrize(("method", "path"), DIRECT_ROUTES)
@pytest.mark.parametrize("authorization", AUTHORIZATIONS)
def test_a_direct_route_answers_as_its_fastapi_route_does(
    client: TestClient, routed: TestClient, method: str, path: str, authorization: str | None
) -> None:
    """Both apps share one database, user and token (a new one after signing out all)."""
    sign_up_and_in(client)
    headers = headers_for(client, authorization)
    fast = answer(client, method, path, headers)
    if path == "/sign-out-all":
        headers = headers_for(routed, authorization)
    slow = answer(routed, method, path, headers)

    assert fast == slow
    if authorization == "valid":
        assert fast[0] in {200, 204, 404}


def test_a_session_listing_and_the_user_are_the_same_bytes_either_way(
    client: TestClient, routed: TestClient
) -> None:
    headers = {"Authorization": f"Bearer {sign_up_and_in(client)['access_token']}"}

    for path in ("/me", "/sessions"):
        assert (
            client.get(path, headers=headers).content == routed.get(path, headers=headers).content
        )


def test_ending_a_session_by_its_id_goes_through_the_path_parameter(client: TestClient) -> None:
    first = sign_up_and_in(client)
    second = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    other = [s["id"] for s in client.get("/sessions", headers=headers).json() if not s["current"]]

    assert client.delete(f"/sessions/{other[0]}", headers=headers).status_code == 204
    refused = client.get("/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert refused.status_code == 401


def test_the_layer_authenticates_a_fastapi_guarded_route_and_hands_the_claims_on(
    client: TestClient,
) -> None:
    """A route with the `Claims` dependency: refused by the layer, or served with its claims."""
    extra = APIRouter()
    reached: list[str] = []

    @extra.get("/whoami")
    async def whoami(claims: Claims) -> dict[str, str]:
        reached.append(claims.subject)
        return {"sub": claims.subject}

    app = client.app
    assert isinstance(app, FastAPI)
    token = sign_up_and_in(client)["access_token"]
    layer = GuardedRoutes(
        app,
        routes=[*router.routes, *extra.routes],
        service=app.state.service,
        wire=app.state.wire,
        database=app.state.database,
    )
    app.include_router(extra)
    with TestClient(layer) as guarded:
        refused = guarded.get("/whoami", headers={"Authorization": "Bearer not-a-token"})
        served = guarded.get("/whoami", headers={"Authorization": f"Bearer {token}"})

    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    assert served.status_code == 200
    assert reached == [served.json()["sub"]]  # the refused request never reached the route


def test_the_layer_leaves_unguarded_routes_and_other_methods_to_the_app(
    client: TestClient,
) -> None:
    reached: list[tuple[str, str]] = []

    async def behind(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = client.app
    assert isinstance(app, FastAPI)
    layer = GuardedRoutes(
        behind,
        routes=router.routes,
        service=app.state.service,
        wire=app.state.wire,
        database=app.state.database,
    )
    raw = TestClient(layer)  # no lifespan: `behind` answers HTTP only
    statuses = [
        raw.get("/health").status_code,
        raw.post("/test").status_code,
        raw.get("/me/").status_code,
        raw.get("/test").status_code,  # guarded: refused here without a token
    ]

    assert statuses == [418, 418, 418, 401]
    assert reached == [("GET", "/health"), ("POST", "/test"), ("GET", "/me/")]


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        ([(b"authorization", b"Bearer abc")], ("abc", "header")),
        ([(b"authorization", b"BEARER abc ")], ("abc", "header")),
        ([(b"authorization", b"Basic abc")], None),
        ([(b"x-other", b"Bearer abc")], None),
        ([], None),
        ([(b"cookie", b"a=1; authgate_access=xyz")], ("xyz", "cookie")),
        (
            [(b"cookie", b"authgate_access=xyz"), (b"authorization", b"Bearer abc")],
            ("abc", "header"),
        ),
        ([(b"cookie", b"authgate_access=xyz"), (b"authorization", b"Basic abc")], None),
        ([(b"cookie", b"other_access=xyz")], None),
        ([(b"cookie", b"authgate_access=")], None),
    ],
)
def test_the_token_is_the_bearer_header_else_the_cookie_when_no_header_is_sent(
    headers: list[tuple[bytes, bytes]], found: tuple[str, str] | None
) -> None:
    assert presented(headers, "authgate_access") == found
