"""Secrets stay out of logs, and token responses stay out of caches.

A full flow (sign-up, sign-in by JSON and by form, guarded routes, refresh, reuse of a
rotated refresh token, failed sign-ins, sign-out, sign-out-all) runs with every logger at
DEBUG, in process and against a real `authgate serve`; no password, access token, refresh
token, private key or configured secret may appear in what was logged (DESIGN.md §3:
refresh tokens are never logged; STYLE.md §3: never a password, a token or a key).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from helpers import PASSWORD, THROTTLES, bearer
from servers import Server

EMAIL = "ada@example.com"
WRONG_PASSWORD = "not the password, but close to it"
LOGGERS = ["authgate", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "sqlalchemy"]
FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


Http = TestClient | httpx.Client  # the in-process client, or a real one for a real server
Answer = Callable[[TestClient, str], Any]


def run_full_flow(http: Http) -> dict[str, str]:
    """Every route a user touches, failures included; return what must never be logged."""
    seen = {"password": PASSWORD, "wrong password": WRONG_PASSWORD}

    def signed_in(name: str, response: Any) -> dict[str, str]:
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        seen[f"{name} access token"] = body["access_token"]
        seen[f"{name} access token signature"] = body["access_token"].rsplit(".", 1)[1]
        seen[f"{name} refresh token"] = body["refresh_token"]
        return body

    credentials = {"email": EMAIL, "password": PASSWORD}
    assert http.post("/sign-up", json=credentials).status_code == 201
    first = signed_in("json sign-in", http.post("/sign-in", json=credentials))
    form = {"username": EMAIL, "password": PASSWORD}
    second = signed_in("form sign-in", http.post("/sign-in", data=form))
    assert http.get("/test", headers=bearer(first["access_token"])).status_code == 200
    assert http.get("/me", headers=bearer(first["access_token"])).status_code == 200

    rotated = signed_in(
        "refresh", http.post("/token", json={"refresh_token": first["refresh_token"]})
    )
    reused = http.post("/token", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401  # theft detected: the whole session is revoked
    assert http.get("/me", headers=bearer(rotated["access_token"])).status_code == 401

    wrong = {"email": EMAIL, "password": WRONG_PASSWORD}
    assert http.post("/sign-in", json=wrong).status_code == 401
    assert (
        http.post("/sign-in", data={"username": EMAIL, "password": WRONG_PASSWORD}).status_code
        == 401
    )
    unknown = {"email": "nobody@example.com", "password": PASSWORD}
    assert http.post("/sign-in", json=unknown).status_code == 401

    signed_out = http.post(
        "/sign-out",
        headers=bearer(second["access_token"]),
        json={"refresh_token": second["refresh_token"]},
    )
    assert signed_out.status_code == 204
    last = signed_in("last sign-in", http.post("/sign-in", json=credentials))
    assert http.post("/sign-out-all", headers=bearer(last["access_token"])).status_code == 204
    assert http.get("/test", headers=bearer(last["access_token"])).status_code == 401
    assert http.post("/token", json={"token": last["refresh_token"]}).status_code == 401
    return seen


def pem_lines(pem: bytes) -> dict[str, str]:
    """The base64 lines of a PEM's body: any one of them in a log is a leak.

    Lines under 16 characters could turn up in a log by chance, so they are left out.
    """
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    return {f"private key line {n}": line for n, line in enumerate(body) if len(line) >= 16}


def leaked(text: str, secret_values: dict[str, str]) -> list[str]:
    return sorted(name for name, value in secret_values.items() if value in text)


def logged_text(records: list[logging.LogRecord]) -> str:
    """Each record as a handler would write it (traceback included), plus its raw args."""
    return "\n".join(f"{FORMAT.format(record)} {record.args!r}" for record in records)


# -- in process: every logger at DEBUG ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Configured:
    app: FastAPI
    settings: Settings
    secrets: dict[str, str]


def hs256_with_secret(settings: Settings) -> tuple[Settings, dict[str, str]]:
    secret = secrets.token_urlsafe(32)
    configured = dataclasses.replace(settings, algorithm="HS256", secret=Secret(secret))
    return configured, {"AUTHGATE_SECRET": secret}


def rs256_with_key_encryption_key(settings: Settings) -> tuple[Settings, dict[str, str]]:
    kek = secrets.token_urlsafe(32)
    configured = dataclasses.replace(settings, key_encryption_key=Secret(kek))
    return configured, {"AUTHGATE_KEY_ENCRYPTION_KEY": kek}


def rs256_by_default(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """The default: the private key is stored unencrypted, so only the logs can leak it."""
    return settings, {}


@pytest.fixture(
    params=[
        pytest.param(hs256_with_secret, id="hs256-secret"),
        pytest.param(rs256_by_default, id="rs256-default"),
        pytest.param(rs256_with_key_encryption_key, id="rs256-key-encryption-key"),
    ]
)
def configured(
    request: pytest.FixtureRequest,
    settings: Settings,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> Configured:
    """An app built with every logger at DEBUG already, so its startup is captured too."""
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    # No grace window, so presenting a rotated refresh token is reuse at once.
    settings, secret_values = request.param(
        dataclasses.replace(settings, refresh_reuse_grace=timedelta(0))
    )
    app = create_app(settings, clock=clock, preset=FAST_FOR_TESTS)
    signing = app.state.service.parts.keys.signing
    if not signing.symmetric:
        secret_values.update(pem_lines(signing.private_pem()))
    return Configured(app, settings, secret_values)


def test_a_full_flow_logs_no_password_token_key_or_secret(
    configured: Configured, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(configured.app) as client:
        seen = {**configured.secrets, **run_full_flow(client)}
    records = caplog.get_records("setup") + caplog.get_records("call")
    text = logged_text(records)
    assert "INSERT INTO" in text  # the capture saw SQLAlchemy's DEBUG output
    assert EMAIL in text  # with its parameters
    assert leaked(text, seen) == []


@pytest.mark.parametrize("configure", [hs256_with_secret, rs256_with_key_encryption_key])
def test_settings_repr_shows_no_secret(
    configure: Callable[[Settings], tuple[Settings, dict[str, str]]], settings: Settings
) -> None:
    configured, secret_values = configure(settings)
    assert leaked(repr(configured), secret_values) == []


# -- a real server: its log file ---------------------------------------------------


@pytest.fixture(scope="module")
def server_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Server, dict[str, str]]:
    """A real `authgate serve` at its default log level, after a full flow; then stopped."""
    kek = secrets.token_urlsafe(32)
    folder = tmp_path_factory.mktemp("hygiene")
    environment = {
        "AUTHGATE_KEY_ENCRYPTION_KEY": kek,
        "AUTHGATE_REFRESH_REUSE_GRACE": "0",
        **THROTTLES,
    }
    with (
        Server(folder, environment) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        seen = run_full_flow(http)
    stored = Settings(
        database_url=f"sqlite:///{folder / 'authgate.db'}", key_encryption_key=Secret(kek)
    )
    service = Service(stored, migrate="never")
    seen.update(pem_lines(service.parts.keys.signing.private_pem()))
    service.close()
    seen["AUTHGATE_KEY_ENCRYPTION_KEY"] = kek
    return server, seen


@pytest.mark.e2e
def test_the_server_log_shows_the_flow(server_run: tuple[Server, dict[str, str]]) -> None:
    server, _ = server_run
    assert '"POST /sign-in HTTP/1.1" 401' in server.log


@pytest.mark.e2e
def test_the_server_log_holds_no_password_token_key_or_secret(
    server_run: tuple[Server, dict[str, str]],
) -> None:
    server, seen = server_run
    assert leaked(server.log, seen) == []


# -- Cache-Control on token responses (RFC 6749 §5.1, §5.2) ------------------------


def successful_sign_in(client: TestClient, refresh_token: str) -> Any:
    return client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})


def failed_sign_in(client: TestClient, refresh_token: str) -> Any:
    return client.post("/sign-in", json={"email": EMAIL, "password": WRONG_PASSWORD})


def failed_form_sign_in(client: TestClient, refresh_token: str) -> Any:
    return client.post("/sign-in", data={"username": EMAIL, "password": WRONG_PASSWORD})


def successful_refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post("/token", json={"refresh_token": refresh_token})


def failed_refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post("/token", json={"refresh_token": "not-a-refresh-token"})


TOKEN_ANSWERS = [
    pytest.param(successful_sign_in, 200, id="sign-in-200"),
    pytest.param(failed_sign_in, 401, id="sign-in-401"),
    pytest.param(failed_form_sign_in, 401, id="form-sign-in-401"),
    pytest.param(successful_refresh, 200, id="token-200"),
    pytest.param(failed_refresh, 401, id="token-401"),
]


@pytest.mark.parametrize(("answer", "status"), TOKEN_ANSWERS)
def test_token_responses_are_never_stored_by_caches(
    answer: Answer, status: int, client: TestClient
) -> None:
    assert client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).status_code == 201
    signed_in = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    response = answer(client, signed_in["refresh_token"])
    assert response.status_code == status
    assert "no-store" in response.headers.get("Cache-Control", "")
