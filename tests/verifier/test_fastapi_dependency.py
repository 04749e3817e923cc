"""RequireUser as one dependency: its scopes and Security's add up, and WebSocket routes work.

The routes are declared inside the tests, so their dependencies are default values:
postponed annotations could not name a test's local guard.
"""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from authgate import AccessClaims, SigningKey, StaticKeys, Verifier
from authgate.verifier.fastapi import RequireUser
from helpers import bearer

from . import mint

ISSUER = "https://auth.example"


@pytest.fixture
def require_user(test_key: SigningKey) -> RequireUser:
    return RequireUser(Verifier(ISSUER, keys=StaticKeys([test_key])))


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        pytest.param(["read:things", "write:things"], 200, id="both"),
        pytest.param(["read:things"], 403, id="only-the-security-scope"),
        pytest.param(["write:things"], 403, id="only-the-with-scopes-scope"),
    ],
)
def test_security_scopes_add_to_the_scopes_of_with_scopes(
    require_user: RequireUser, test_key: SigningKey, scopes: list[str], status: int
) -> None:
    app = FastAPI()
    guard = require_user.with_scopes("write:things")

    @app.get("/things")
    def things(
        claims: AccessClaims = Security(guard, scopes=["read:things"]),  # noqa: B008
    ) -> dict[str, str]:
        return {"sub": claims.subject}

    with TestClient(app) as client:
        answer = client.get("/things", headers=bearer(mint(test_key, issuer=ISSUER, scopes=scopes)))

    assert answer.status_code == status
    if status == 403:
        assert answer.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="read:things write:things"'
        )


def test_websocket_routes_accept_a_valid_token_and_refuse_none(
    require_user: RequireUser, test_key: SigningKey
) -> None:
    app = FastAPI()

    @app.websocket("/feed")
    async def feed(
        websocket: WebSocket,
        claims: AccessClaims = Depends(require_user),  # noqa: B008
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": claims.subject})
        await websocket.close()

    with TestClient(app) as client:
        with client.websocket_connect("/feed", headers=bearer(mint(test_key, issuer=ISSUER))) as ws:
            assert ws.receive_json() == {"sub": "user-minted"}
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("/feed"):
            pass

    assert refused.value.status_code == 401
    assert refused.value.headers["WWW-Authenticate"] == "Bearer"
