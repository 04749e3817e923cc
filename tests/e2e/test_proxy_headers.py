"""X-Forwarded-For counts only when AUTHGATE_TRUSTED_PROXIES names the peer (none by default).

Against real `authgate serve` processes, so uvicorn's own proxy-header handling (which
trusts 127.0.0.1 unless told otherwise) is part of what is tested. Every request comes
from 127.0.0.1, the address a reverse proxy on the same machine would have.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, THROTTLES, bearer
from servers import Server
from services import free_port

from . import http_client, query

SPOOFED = "203.0.113.9"
EMAIL = "proxied@example.com"


def forwarded(forwarded_for: str) -> dict[str, str]:
    return {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}


def sign_in(http: httpx.Client, *, forwarded_for: str) -> httpx.Response:
    credentials = {"email": EMAIL, "password": PASSWORD}
    return http.post("/sign-in", json=credentials, headers=forwarded(forwarded_for))


def addresses_seen(server: Server, http: httpx.Client, *, forwarded_for: str) -> set[str]:
    """The client addresses a sign-up and sign-in were recorded with (/sessions, audit log)."""
    credentials = {"email": EMAIL, "password": PASSWORD}
    signed_up = http.post("/sign-up", json=credentials, headers=forwarded(forwarded_for))
    assert signed_up.status_code == 201
    signed_in = sign_in(http, forwarded_for=forwarded_for)
    assert signed_in.status_code == 200, signed_in.text
    sessions = http.get("/sessions", headers=bearer(signed_in.json()["access_token"])).json()
    audit = query(server.folder / "authgate.db", "SELECT DISTINCT ip FROM audit_events")
    return {session["ip"] for session in sessions} | {ip for (ip,) in audit}


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param({}, id="defaults"),
        # uvicorn's own variable must not turn trust back on behind authgate's back.
        pytest.param({"FORWARDED_ALLOW_IPS": "*"}, id="FORWARDED_ALLOW_IPS-star"),
    ],
)
def test_forwarded_for_is_ignored_unless_a_trusted_proxy_is_set(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    with (
        Server(tmp_path / "server", settings={**THROTTLES, **environment}) as server,
        http_client(server.url) as http,
    ):
        assert addresses_seen(server, http, forwarded_for=SPOOFED) == {"127.0.0.1"}


def test_a_new_forwarded_for_on_each_attempt_does_not_escape_the_sign_in_limit_per_ip(
    tmp_path: Path,
) -> None:
    settings = {**THROTTLES, "AUTHGATE_THROTTLE_SIGN_IN_IP": "3/minute"}
    with Server(tmp_path / "server", settings=settings) as server, http_client(server.url) as http:
        assert http.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).status_code == 201
        statuses = [sign_in(http, forwarded_for=f"203.0.113.{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_forwarded_for_counts_from_a_trusted_proxy(tmp_path: Path) -> None:
    settings = {**THROTTLES, "AUTHGATE_TRUSTED_PROXIES": "127.0.0.1"}
    with Server(tmp_path / "server", settings=settings) as server, http_client(server.url) as http:
        # A proxy appends the address it saw: the client wrote the first one itself.
        assert addresses_seen(server, http, forwarded_for=f"198.51.100.7, {SPOOFED}") == {SPOOFED}


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.internal", "*", "127.0.0.1,nope"])
def test_a_bad_trusted_proxies_value_stops_serve_naming_the_variable(
    tmp_path: Path, value: str
) -> None:
    server = Server(tmp_path, settings={"AUTHGATE_TRUSTED_PROXIES": value})
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "authgate", "serve", "--port", str(free_port())],
            cwd=tmp_path,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve started with AUTHGATE_TRUSTED_PROXIES={value!r}")
    assert finished.returncode == 2
    assert "AUTHGATE_TRUSTED_PROXIES" in finished.stderr
