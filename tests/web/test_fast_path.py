"""GET /test at the ASGI layer answers exactly as the documented FastAPI route would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from authgate.web.transport import presented_token
from authgate.web.tutorial_route import FastGuardedRoutes
from helpers import sign_up_and_in


def without_fast_path(app: FastAPI) -> FastAPI:
    """The same app with GET /test left to FastAPI's router and the guard dependency."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastGuardedRoutes]
    return app


@pytest.fixture
def routed(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = without_fast_path(create_app(settings, clock=clock, preset=FAST_FOR_TESTS))
    with TestClient(app) as client:  # the lifespan closes the app's database connections
        yield client


def answer(client: TestClient, headers: dict[str, str]) -> tuple[int, str, str | None, str]:
    response = client.get("/test", headers=headers)
    return (
        response.status_code,
        response.text,
        response.headers.get("www-authenticate"),
        response.headers["content-type"],
    )


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("valid", id="valid-token"),
        pytest.param(None, id="no-header"),
        pytest.param("Basic YTpi", id="basic-scheme"),
        pytest.param("Bearer not-a-token", id="garbage"),
        pytest.param("Bearer ", id="empty-token"),
        pytest.param("bearer valid", id="lowercase-scheme"),
    ],
)
def test_the_fast_path_answers_like_the_fastapi_route(
    client: TestClient, routed: TestClient, authorization: str | None
) -> None:
    token = sign_up_and_in(client)["access_token"]
    headers = {}
    if authorization is not None:
        headers["Authorization"] = (
            f"Bearer {token}" if authorization == "valid" else authorization.replace("valid", token)
        )

    assert answer(client, headers) == answer(routed, headers)


def test_the_fast_path_answers_get_test_without_the_app_behind_it(client: TestClient) -> None:
    token = sign_up_and_in(client)["access_token"]
    reached: list[str] = []

    async def behind(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    fast = FastGuardedRoutes(
        behind,
        guard=client.app.state.service.parts.guard,  # type: ignore[attr-defined]
        access_cookie="authgate_access",
    )
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    def call(path: str) -> int:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [(b"authorization", f"Bearer {token}".encode())],
        }
        sent.clear()
        asyncio.run(fast(scope, receive, send))
        status: int = sent[0]["status"]
        return status

    assert call("/test") == 200
    assert call("/me") == 418
    assert reached == ["/me"]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer abc")], "abc"),
        ([(b"authorization", b"BEARER abc ")], "abc"),
        ([(b"authorization", b"Basic abc")], None),
        ([(b"x-other", b"Bearer abc")], None),
        ([], None),
        ([(b"cookie", b"a=1; authgate_access=xyz")], "xyz"),
        ([(b"cookie", b"authgate_access=xyz"), (b"authorization", b"Bearer abc")], "abc"),
        ([(b"cookie", b"authgate_access=xyz"), (b"authorization", b"Basic abc")], None),
        ([(b"cookie", b"other_access=xyz")], None),
        ([(b"cookie", b"authgate_access=")], None),
    ],
)
def test_presented_token_is_the_bearer_token_else_the_cookie_when_no_header_is_sent(
    headers: list[tuple[bytes, bytes]], token: str | None
) -> None:
    assert presented_token(headers, "authgate_access") == token
