"""Security events leave the process as log lines (ASVS V16.4.3, V16.3.2, V16.3.3).

Every audit event is also a line on the `authgate.audit` logger; every refused
authorization (a bad, expired or revoked token, no token, CSRF, a step-up, an MFA
enrolment demanded, another user's session) and every throttled request is a line on
`authgate.security`, with its reason, route and address. Neither holds a password, a
token, a cookie or an e-mail. The records are read before the scrubbing filter runs, so
the filter cannot hide what authgate itself would have written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import AccessClaims
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from authgate.web.logs import JsonLines, TextLines
from helpers import PASSWORD, THROTTLES, bearer, filled_from, sign_up_and_in
from servers import Server

EMAIL = "ada@example.com"
OTHER_EMAIL = "bob@example.com"
UNKNOWN_EMAIL = "nobody@example.com"
WRONG_PASSWORD = "not the password, but close to it"
ORIGIN = "https://testserver"  # so that the client keeps and sends Secure cookies
AUDIT = "authgate.audit"
SECURITY = "authgate.security"

OpenClient = Callable[..., TestClient]


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """What these tests check does not depend on the database: SQLite only."""
    return str(request.param)


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, sqlite_template: Path) -> str:
    return filled_from(sqlite_template, database_url, tmp_path)


@pytest.fixture
def logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """What authgate's loggers pass on at INFO and above."""
    # Another test may have configured the server's logging, which stops propagation.
    monkeypatch.setattr(logging.getLogger("authgate"), "propagate", True)
    caplog.set_level(logging.INFO, logger="authgate")
    return caplog


@pytest.fixture
def open_client(settings: Settings, clock: FrozenClock) -> Iterator[OpenClient]:
    """Open a client on a new app whose settings differ from the test's by `changes`."""
    with contextlib.ExitStack() as stack:

        def open_(**changes: Any) -> TestClient:
            app = create_app(
                dataclasses.replace(settings, **changes), clock=clock, preset=FAST_FOR_TESTS
            )
            return stack.enter_context(TestClient(app, base_url=ORIGIN))

        yield open_


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def claims_of(client: TestClient, access_token: str) -> AccessClaims:
    return service_of(client).read(access_token)


def lines_of(logs: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in logs.records if record.name == logger]


def written(records: list[logging.LogRecord]) -> str:
    """The records as both formats write them, and their raw arguments."""
    return "\n".join(
        f"{TextLines().format(r)}\n{JsonLines().format(r)}\n{r.args!r}" for r in records
    )


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(name for name, value in secrets.items() if value and value in text)


def field(record: logging.LogRecord, name: str) -> object:
    """A structured field of a record (an `extra=` attribute), None when it has none."""
    return getattr(record, name, None)


# -- the audit log, also as log lines (V16.4.3) ----------------------------------------


def sign_up_in_fail_and_out(client: TestClient) -> dict[str, str]:
    """A user's first visit, with failures; return what no log line may hold."""
    credentials = {"email": EMAIL, "password": PASSWORD}
    assert client.post("/sign-up", json=credentials).status_code == 201
    signed_in = client.post("/sign-in", json=credentials).json()
    wrong = {"email": EMAIL, "password": WRONG_PASSWORD}
    assert client.post("/sign-in", json=wrong).status_code == 401
    unknown = {"email": UNKNOWN_EMAIL, "password": PASSWORD}
    assert client.post("/sign-in", json=unknown).status_code == 401
    rotated = client.post("/token", json={"refresh_token": signed_in["refresh_token"]}).json()
    signed_out = client.post(
        "/sign-out",
        headers=bearer(rotated["access_token"]),
        json={"refresh_token": rotated["refresh_token"]},
    )
    assert signed_out.status_code == 204
    assert client.get("/me", headers=bearer(rotated["access_token"])).status_code == 401
    return {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "e-mail": EMAIL,
        "unknown e-mail": UNKNOWN_EMAIL,
        "access token": signed_in["access_token"],
        "access token's signature": signed_in["access_token"].rsplit(".", 1)[1],
        "refresh token": signed_in["refresh_token"],
        "rotated access token": rotated["access_token"],
        "rotated refresh token": rotated["refresh_token"],
    }


def test_every_audit_event_of_sign_up_sign_in_failures_and_sign_out_is_also_a_log_line(
    client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    sign_up_in_fail_and_out(client)

    rows, _ = service_of(client).audit_events()
    stored = Counter((e.kind, e.user_id, e.session_id, e.ip) for e in rows)
    logged = Counter(
        (field(r, "event"), field(r, "user_id"), field(r, "session_id"), field(r, "ip"))
        for r in lines_of(logs, AUDIT)
    )
    assert {kind for kind, *_ in stored} >= {"sign_up", "sign_in", "sign_in_failed", "signed_out"}
    assert logged == stored
    assert {r.levelno for r in lines_of(logs, AUDIT)} == {logging.INFO}


def test_audit_and_security_lines_hold_no_password_token_or_e_mail(
    client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    secrets = sign_up_in_fail_and_out(client)

    audit, security = lines_of(logs, AUDIT), lines_of(logs, SECURITY)
    assert audit
    assert security  # the signed-out session's token, refused
    assert leaked(written(audit + security), secrets) == []


def test_a_json_audit_line_has_the_kind_time_user_session_and_address_as_keys(
    client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    claims = claims_of(client, sign_up_and_in(client)["access_token"])

    [sign_in] = [r for r in lines_of(logs, AUDIT) if field(r, "event") == "sign_in"]
    entry = json.loads(JsonLines().format(sign_in))
    assert {name: entry.get(name) for name in ("logger", "level", "event", "at")} == {
        "logger": AUDIT,
        "level": "info",
        "event": "sign_in",
        "at": "2030-01-01T12:00:00.000+00:00",
    }
    assert (entry["user_id"], entry["session_id"], entry["ip"]) == (
        claims.subject,
        claims.session_id,
        "testclient",
    )


def test_an_audit_events_details_are_a_json_object_and_key_value_pairs_in_text(
    open_client: OpenClient, logs: pytest.LogCaptureFixture
) -> None:
    client = open_client(max_sessions_per_user=1)
    first = claims_of(client, sign_up_and_in(client)["access_token"])
    credentials = {"email": EMAIL, "password": PASSWORD}
    second = claims_of(client, client.post("/sign-in", json=credentials).json()["access_token"])

    [ended] = [r for r in lines_of(logs, AUDIT) if field(r, "event") == "session_limit"]
    assert json.loads(JsonLines().format(ended))["detail"] == {"ended_by": second.session_id}
    assert re.fullmatch(
        r"\S+Z INFO authgate\.audit: session_limit at=2030-01-01T12:00:00\.000\+00:00 "
        rf"user_id={first.subject} session_id={first.session_id} ip=testclient "
        rf"ended_by={second.session_id}",
        TextLines().format(ended),
    )


# -- refused authorizations and throttled requests (V16.3.2, V16.3.3) ------------------


@dataclasses.dataclass(frozen=True)
class Refused:
    """What a scenario did: its last answer, what no line may hold, and whose token it was
    (when the token verified, the line names its user and session)."""

    response: httpx2.Response
    secrets: dict[str, str]
    claims: AccessClaims | None = None


@dataclasses.dataclass(frozen=True)
class Expected:
    status: int
    reason: str
    method: str
    route: str
    level: int = logging.INFO
    rule: str | None = None


def cookies_of(client: TestClient) -> dict[str, str]:
    return {f"cookie {cookie.name}": cookie.value or "" for cookie in client.cookies.jar}


def signed_in_by_cookie(client: TestClient) -> TestClient:
    credentials = {"email": EMAIL, "password": PASSWORD}
    assert client.post("/sign-up", json=credentials).status_code == 201
    assert client.post("/sign-in?transport=cookie", json=credentials).status_code == 200
    return client


def garbage_token(open_client: OpenClient, clock: FrozenClock) -> Refused:
    token = "not-a-token-at-all"
    return Refused(open_client().get("/me", headers=bearer(token)), {"token": token})


def no_token(open_client: OpenClient, clock: FrozenClock) -> Refused:
    return Refused(open_client().get("/me"), {})


def expired_token(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client()
    token = sign_up_and_in(client)["access_token"]
    clock.advance(minutes=20)
    return Refused(client.get("/sessions", headers=bearer(token)), {"token": token})


def revoked_session(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client()
    token = sign_up_and_in(client)["access_token"]
    assert client.post("/sign-out", headers=bearer(token)).status_code == 204
    return Refused(client.get("/sessions", headers=bearer(token)), {"token": token})


def csrf_on_a_route_the_guard_serves(open_client: OpenClient, clock: FrozenClock) -> Refused:
    browser = signed_in_by_cookie(open_client())
    return Refused(browser.post("/sign-out-all"), cookies_of(browser))  # no X-CSRF-Token


def csrf_on_a_route_fastapi_serves(open_client: OpenClient, clock: FrozenClock) -> Refused:
    browser = signed_in_by_cookie(open_client())
    return Refused(browser.post("/sign-out"), cookies_of(browser))  # no X-CSRF-Token


def step_up_on_a_route_fastapi_serves(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client()
    token = sign_up_and_in(client)["access_token"]
    clock.advance(minutes=6)  # past AUTHGATE_REAUTH_MAX_AGE, the token still valid
    response = client.post("/mfa/totp", headers=bearer(token))
    return Refused(response, {"token": token}, claims_of(client, token))


def step_up_on_a_route_the_guard_serves(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client()
    older = sign_up_and_in(client)["access_token"]
    token = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()[
        "access_token"
    ]
    clock.advance(minutes=6)
    other = claims_of(client, older).session_id
    response = client.delete(f"/sessions/{other}", headers=bearer(token))
    return Refused(response, {"token": token, "older": older}, claims_of(client, token))


def mfa_enrolment_required(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client(mfa="required")
    token = sign_up_and_in(client)["access_token"]
    response = client.get("/sessions", headers=bearer(token))
    return Refused(response, {"token": token}, claims_of(client, token))


def another_users_session(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client()
    token = sign_up_and_in(client)["access_token"]
    bobs = sign_up_and_in(client, OTHER_EMAIL)["access_token"]
    response = client.delete(
        f"/sessions/{claims_of(client, bobs).session_id}", headers=bearer(token)
    )
    secrets = {"token": token, "bob's token": bobs, "bob's e-mail": OTHER_EMAIL}
    return Refused(response, secrets, claims_of(client, token))


def over_the_address_rate(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client(throttle_sign_in_ip="1/minute")
    credentials = {"email": EMAIL, "password": PASSWORD}
    assert client.post("/sign-up", json=credentials).status_code == 201
    token = client.post("/sign-in", json=credentials).json()["access_token"]
    response = client.post("/sign-in", json=credentials)
    return Refused(response, {"token": token, "e-mail": EMAIL, "password": PASSWORD})


def over_the_account_rate(open_client: OpenClient, clock: FrozenClock) -> Refused:
    client = open_client(throttle_sign_in_account="1/minute")
    assert client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).status_code == 201
    wrong = {"email": EMAIL, "password": WRONG_PASSWORD}
    assert client.post("/sign-in", json=wrong).status_code == 401
    response = client.post("/sign-in", json=wrong)
    return Refused(response, {"e-mail": EMAIL, "password": WRONG_PASSWORD})


SESSION = "/sessions/{session_id}"
CSRF = logging.WARNING
REFUSALS = [
    pytest.param(garbage_token, Expected(401, "invalid_token", "GET", "/me"), id="garbage-token"),
    pytest.param(no_token, Expected(401, "unauthorized", "GET", "/me"), id="no-token"),
    pytest.param(
        expired_token, Expected(401, "invalid_token", "GET", "/sessions"), id="expired-token"
    ),
    pytest.param(
        revoked_session, Expected(401, "invalid_token", "GET", "/sessions"), id="revoked-session"
    ),
    pytest.param(
        csrf_on_a_route_the_guard_serves,
        Expected(403, "csrf_failed", "POST", "/sign-out-all", CSRF),
        id="csrf-guard-layer",
    ),
    pytest.param(
        csrf_on_a_route_fastapi_serves,
        Expected(403, "csrf_failed", "POST", "/sign-out", CSRF),
        id="csrf-fastapi-route",
    ),
    pytest.param(
        step_up_on_a_route_fastapi_serves,
        Expected(401, "insufficient_user_authentication", "POST", "/mfa/totp"),
        id="step-up-fastapi-route",
    ),
    pytest.param(
        step_up_on_a_route_the_guard_serves,
        Expected(401, "insufficient_user_authentication", "DELETE", SESSION),
        id="step-up-guard-layer",
    ),
    pytest.param(
        mfa_enrolment_required,
        Expected(403, "mfa_enrolment_required", "GET", "/sessions"),
        id="mfa-required",
    ),
    pytest.param(
        another_users_session,
        Expected(404, "not_found", "DELETE", SESSION),
        id="another-users-session",
    ),
    pytest.param(
        over_the_address_rate,
        Expected(429, "too_many_requests", "POST", "/sign-in", logging.WARNING, "sign_in_ip"),
        id="throttled-address",
    ),
    pytest.param(
        over_the_account_rate,
        Expected(429, "too_many_requests", "POST", "/sign-in", logging.WARNING, "sign_in_account"),
        id="throttled-account",
    ),
]


@pytest.mark.parametrize(("scenario", "expected"), REFUSALS)
def test_each_refusal_is_one_security_line_with_its_reason_route_and_address_and_no_token(
    scenario: Callable[[OpenClient, FrozenClock], Refused],
    expected: Expected,
    open_client: OpenClient,
    clock: FrozenClock,
    logs: pytest.LogCaptureFixture,
) -> None:
    refused = scenario(open_client, clock)

    assert refused.response.status_code == expected.status, refused.response.text
    [line] = lines_of(logs, SECURITY)
    assert (line.levelno, line.getMessage().split()[0]) == (expected.level, expected.reason)
    assert (field(line, "reason"), field(line, "method"), field(line, "route")) == (
        expected.reason,
        expected.method,
        expected.route,
    )
    assert (field(line, "ip"), field(line, "rule")) == ("testclient", expected.rule)
    verified = refused.claims
    assert (field(line, "user_id"), field(line, "session_id")) == (
        (verified.subject, verified.session_id) if verified else (None, None)
    )
    assert leaked(written([line]), refused.secrets) == []


def test_a_refusal_names_the_route_as_declared_never_the_path_or_query_requested(
    client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    client.delete("/sessions/s-1234567890?access_token=abc.def.ghi", headers=bearer("xyz"))

    [line] = lines_of(logs, SECURITY)
    assert (
        TextLines()
        .format(line)
        .endswith(
            " INFO authgate.security: invalid_token method=DELETE route=/sessions/{session_id} "
            'ip=testclient why="the access token is malformed"'
        )
    )
    assert leaked(written([line]), {"path": "s-1234567890", "query": "abc.def.ghi"}) == []


VALID_REQUESTS = [
    pytest.param("GET", "/test", id="direct-route"),
    pytest.param("GET", "/me", id="direct-route-me"),
    pytest.param("GET", "/mfa", id="fastapi-route"),
    pytest.param("POST", "/sign-out-all", id="unsafe-method"),
]


@pytest.mark.parametrize(("method", "path"), VALID_REQUESTS)
def test_a_valid_guarded_request_writes_no_security_line(
    method: str, path: str, client: TestClient, logs: pytest.LogCaptureFixture
) -> None:
    token = sign_up_and_in(client)["access_token"]

    response = client.request(method, path, headers=bearer(token))

    assert response.status_code in {200, 204}, response.text
    assert lines_of(logs, SECURITY) == []


# -- a real server: the lines as an operator ships them ------------------------------------


@pytest.mark.e2e
def test_a_real_server_writes_audit_and_security_events_as_json_keys(tmp_path: Path) -> None:
    settings = {"AUTHGATE_LOG_FORMAT": "json", "AUTHGATE_LOG_LEVEL": "info", **THROTTLES}
    with Server(tmp_path, settings) as server:
        credentials = {"email": EMAIL, "password": PASSWORD}
        assert httpx.post(f"{server.url}/sign-up", json=credentials).status_code == 201
        token = httpx.post(f"{server.url}/sign-in", json=credentials).json()["access_token"]
        assert httpx.get(f"{server.url}/me", headers=bearer(token)).status_code == 200
        assert httpx.get(f"{server.url}/me", headers=bearer(token[:-4])).status_code == 401

    entries = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    audit = [e for e in entries if e["logger"] == AUDIT]
    security = [e for e in entries if e["logger"] == SECURITY]
    assert [e["event"] for e in audit] == ["sign_up", "sign_in"]
    assert all({"time", "at", "user_id", "ip"} <= set(e) for e in audit)
    assert [(e["level"], e["reason"], e["method"], e["route"], e["ip"]) for e in security] == [
        ("info", "invalid_token", "GET", "/me", "127.0.0.1")
    ]
    shipped = json.dumps(audit + security)
    assert leaked(shipped, {"token": token, "password": PASSWORD, "e-mail": EMAIL}) == []
