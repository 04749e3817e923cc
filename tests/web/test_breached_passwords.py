"""New passwords asked of a k-anonymity range API (AUTHGATE_BREACHED_PASSWORDS_URL), here a
real HTTP server on this machine speaking the Pwned Passwords protocol (ASVS V6.2.12).

Only the first five hex digits of the SHA-1 leave authgate; an API that is down, slow,
broken or hostile leaves the decision to the offline lists and never fails a sign-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD, bearer, mailed_token, sign_up_and_in
from servers import serving_http

BREACHED = "purple monkey dishwasher 42"  # in no offline list, listed by the stub
EMAIL = "ada@example.com"


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


@dataclass
class RangeStub:
    """A Pwned Passwords range API: what it lists, how it misbehaves, what it was asked."""

    listed: set[str] = field(default_factory=lambda: {BREACHED})
    mode: str = "ok"  # ok, error, garbage, slow, huge
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def answer(self, prefix: str) -> bytes:
        lines = [f"{h[5:]}:{1234}" for h in map(sha1, self.listed) if h.startswith(prefix)]
        # Padding as the real API adds it: suffixes with a count of 0.
        lines += [f"{'0' * 30}{i:05X}:0" for i in range(40)]
        return "\r\n".join(lines).encode()


@contextlib.contextmanager
def range_api(stub: RangeStub) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.paths.append(self.path)
            stub.headers.append({k.lower(): v for k, v in self.headers.items()})
            if stub.mode == "slow":
                time.sleep(2.5)
            if stub.mode == "error":
                self.send_response(503)
                self.end_headers()
                return
            body = {
                "garbage": b"\xff\xfe not a range answer",
                "huge": b"A" * (3 * 1024 * 1024),
            }.get(stub.mode) or stub.answer(self.path.rsplit("/", 1)[-1])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving_http(Handler) as port:
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def client_with(
    folder: Path, clock: FrozenClock, url: str, *, timeout: int = 2
) -> Iterator[TestClient]:
    """authgate on a SQLite file asking the API at `url` (the store plays no part here)."""
    checked = Settings(
        database_url=f"sqlite:///{folder / 'authgate.db'}",
        breached_passwords_url=url,
        breached_passwords_timeout=timedelta(seconds=timeout),
        **GENEROUS_THROTTLES,
    )
    with TestClient(create_app(checked, clock=clock, preset=FAST_FOR_TESTS)) as client:
        yield client


@pytest.fixture
def stub() -> Iterator[tuple[RangeStub, str]]:
    found = RangeStub()
    with range_api(found) as url:
        yield found, url


def breach_checks(client: TestClient) -> dict[str, float]:
    counts = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("authgate_breached_password_checks_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    return counts


def test_a_listed_password_is_refused_at_sign_up_and_nothing_is_stored(
    tmp_path: Path, clock: FrozenClock, stub: tuple[RangeStub, str]
) -> None:
    _, url = stub
    with client_with(tmp_path, clock, url) as client:
        refused = client.post("/sign-up", json={"email": EMAIL, "password": BREACHED})
        assert refused.status_code == 422
        assert refused.json()["error"] == "password_rejected"
        assert "data breach" in refused.json()["detail"]
        signed_in = client.post("/sign-in", json={"email": EMAIL, "password": BREACHED})
        assert signed_in.status_code == 401  # no account was made
        ok = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
        assert ok.status_code == 201
        assert breach_checks(client) == {"breached": 1.0, "clean": 1.0}


def test_only_five_hex_digits_of_the_hash_leave_the_server_and_padding_is_asked(
    tmp_path: Path, clock: FrozenClock, stub: tuple[RangeStub, str]
) -> None:
    found, url = stub
    with client_with(tmp_path, clock, url) as client:
        client.post("/sign-up", json={"email": EMAIL, "password": BREACHED})
        client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    assert found.paths == [f"/range/{sha1(BREACHED)[:5]}", f"/range/{sha1(PASSWORD)[:5]}"]
    for headers in found.headers:
        assert headers["add-padding"] == "true"
    sent = " ".join(found.paths) + repr(found.headers)
    for password in (BREACHED, PASSWORD):
        assert sha1(password)[5:] not in sent.upper()
        assert password not in sent


def test_a_suffix_listed_only_as_padding_is_not_a_breach(
    tmp_path: Path, clock: FrozenClock
) -> None:
    # A password whose suffix the padding happens to hold with count 0 is not breached.
    stub = RangeStub(listed=set())
    with range_api(stub) as url, client_with(tmp_path, clock, url) as client:
        assert (
            client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).status_code == 201
        )
    assert stub.answer(sha1(PASSWORD)[:5]).count(b":0") == 40


def test_password_changes_and_resets_are_checked_too(
    tmp_path: Path, clock: FrozenClock, stub: tuple[RangeStub, str]
) -> None:
    _, url = stub
    with client_with(tmp_path, clock, url) as client:
        tokens = sign_up_and_in(client, EMAIL)
        change = client.post(
            "/password/change",
            json={"current_password": PASSWORD, "new_password": BREACHED},
            headers=bearer(tokens["access_token"]),
        )
        assert change.status_code == 422
        assert "data breach" in change.json()["detail"]
        # The old password still works: nothing changed.
        assert (
            client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).status_code == 200
        )


def test_sign_in_never_asks_the_api(
    tmp_path: Path, clock: FrozenClock, stub: tuple[RangeStub, str]
) -> None:
    found, url = stub
    with client_with(tmp_path, clock, url) as client:
        client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
        asked = len(found.paths)
        for _ in range(3):
            client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
        assert len(found.paths) == asked


@pytest.mark.parametrize("mode", ["error", "garbage", "slow", "huge", "down"])
def test_an_unavailable_api_leaves_the_decision_to_the_offline_lists(
    tmp_path: Path,
    clock: FrozenClock,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub = RangeStub(mode=mode)
    with range_api(stub) as url:
        if mode == "down":
            url = "http://127.0.0.1:9"  # the discard port: nothing listens
        with (
            caplog.at_level(logging.WARNING, logger="authgate"),
            client_with(tmp_path, clock, url, timeout=1) as client,
        ):
            started = time.monotonic()
            # The stub would call this one breached; unavailable, the offline lists decide.
            made = client.post("/sign-up", json={"email": EMAIL, "password": BREACHED})
            assert made.status_code == 201
            assert time.monotonic() - started < 2.4  # the 1 s timeout, not the stub's 2.5 s
            common = client.post(
                "/sign-up", json={"email": "b@example.com", "password": "password1"}
            )
            assert common.status_code == 422  # the offline list still refuses
            assert breach_checks(client) == {"unavailable": 1.0}
    warnings = [
        r.getMessage()
        for r in caplog.records
        if "AUTHGATE_BREACHED_PASSWORDS_URL" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert BREACHED not in caplog.text
    assert sha1(BREACHED)[5:] not in caplog.text.upper()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com", "http://api.pwnedpasswords.com", "https://x.example/?q=1", "nonsense"],
)
def test_a_bad_api_url_stops_startup_naming_the_setting(url: str) -> None:
    with pytest.raises(Exception, match="AUTHGATE_BREACHED_PASSWORDS_URL"):
        Settings.from_env({"AUTHGATE_BREACHED_PASSWORDS_URL": url}, env_file=None)


def refused_everywhere(client: TestClient, email: str, password: str) -> list[str]:
    """Try `password` at sign-up, then as a change and as a reset of `email`'s account (made
    with PASSWORD): the `detail` of each refusal; the account keeps PASSWORD."""
    answers = [client.post("/sign-up", json={"email": email, "password": password})]
    tokens = sign_up_and_in(client, email)
    answers.append(
        client.post(
            "/password/change",
            json={"current_password": PASSWORD, "new_password": password},
            headers=bearer(tokens["access_token"]),
        )
    )
    client.post("/password/forgot", json={"email": email})
    token = mailed_token(client.app.state.service, "reset_password", to=email)
    answers.append(client.post("/password/reset", json={"token": token, "password": password}))
    assert [a.status_code for a in answers] == [422, 422, 422]
    signed_in = client.post("/sign-in", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200
    return [a.json()["detail"] for a in answers]


def offline_client(folder: Path, clock: FrozenClock) -> TestClient:
    """authgate with no range API: the offline lists alone decide."""
    offline = Settings(database_url=f"sqlite:///{folder / 'a.db'}", **GENEROUS_THROTTLES)
    return TestClient(create_app(offline, clock=clock, preset=FAST_FOR_TESTS))


def test_without_an_api_the_offline_list_refuses_at_sign_up_change_and_reset(
    tmp_path: Path, clock: FrozenClock
) -> None:
    listed = "Minecraft"  # in zxcvbn's breached list, not in authgate's own
    with offline_client(tmp_path, clock) as client:
        for detail in refused_everywhere(client, EMAIL, listed):
            assert "too common" in detail


@pytest.mark.parametrize("password", ["jane.doe1990", "acme-jane-doe", "authgate-2030"])
def test_context_words_are_refused_at_sign_up_change_and_reset(
    tmp_path: Path, clock: FrozenClock, password: str
) -> None:
    with offline_client(tmp_path, clock) as client:
        for detail in refused_everywhere(client, "jane.doe@acme.example", password):
            assert "this service's name or your e-mail address" in detail
        # Someone else may use the same words: they are not that person's address.
        other = client.post(
            "/sign-up", json={"email": "bob@other.example", "password": "jane.doe1990 acme"}
        )
        assert other.status_code == 201
