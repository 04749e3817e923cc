"""Small readers for the HTTP tests: what a token says, without verifying it."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

MakeClient = Callable[..., TestClient]
"""The `make_client` fixture: `make_client(ip=..., **settings_changes)`."""
FromIp = Callable[[TestClient, str], TestClient]
"""The `from_ip` fixture: `from_ip(running_client, "192.0.2.2")`."""

RETRY_AFTER_SECONDS = re.compile(r"[1-9][0-9]*")
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def companion(running: TestClient, **kwargs: Any) -> TestClient:
    """Another client (its own cookie jar, address or origin) on an app `running` serves.

    It sends its requests through `running`'s event loop. A TestClient that is not entered
    starts an event loop per request instead, and the app's lifespan resources then meet
    two loops: the in-memory throttle's expiry task, started on a request's short-lived
    loop, can die holding one of its per-key asyncio locks, and every later request that
    wants that lock waits forever (a CI run hung so in tests/web/test_cookies.py).
    """
    if running.portal is None:
        raise RuntimeError("enter the running client first: it owns the app's event loop")
    other = TestClient(running.app, **kwargs)
    other.portal = running.portal
    return other


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, read without verification (for inspection only)."""
    return _segment(token, 0)


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWS, read without verification (for inspection only)."""
    return _segment(token, 1)


def is_error_body(body: object) -> bool:
    """True for authgate's error shape: exactly `error` and `detail`, both non-empty text."""
    return (
        isinstance(body, dict)
        and set(body) == {"error", "detail"}
        and all(isinstance(v, str) and v for v in body.values())
    )
