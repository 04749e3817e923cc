"""End to end: `authgate serve` as a real uvicorn process, talked to over loopback HTTP."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from helpers import PASSWORD, assert_refused_as_invalid_token
from servers import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"AUTHGATE_THROTTLE_SIGN_IN_IP": "100000/minute"}  # the flood signs in a lot
    with Server(tmp_path_factory.mktemp("server"), settings) as running:
        yield running


def test_the_tutorial_flow_works_over_real_http(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        created = http.post("/sign-up", json={"email": "flow@example.com", "password": PASSWORD})
        assert created.status_code == 201
        tokens = http.post(
            "/sign-in", json={"email": "flow@example.com", "password": PASSWORD}
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/test", headers=auth).text == "Token Verified, Authorizing User..."
        assert http.get("/me", headers=auth).json()["id"] == created.json()["id"]

        rotated = http.post("/token", json={"token": tokens["refresh_token"]})
        assert rotated.status_code == 200
        new_auth = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
        assert http.post("/sign-out", headers=new_auth).status_code == 204

        assert_refused_as_invalid_token(http.get("/test", headers=new_auth))
        assert (
            http.post("/token", json={"refresh_token": rotated.json()["refresh_token"]}).status_code
            == 401
        )


def test_a_user_disabled_from_the_cli_is_refused_by_the_running_server_within_a_second(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.url) as http:
        http.post("/sign-up", json={"email": "laptop@example.com", "password": PASSWORD})
        tokens = http.post(
            "/sign-in", json={"email": "laptop@example.com", "password": PASSWORD}
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/test", headers=auth).status_code == 200

        server.command("users", "disable", "laptop@example.com")
        disabled_at = time.monotonic()
        while http.get("/test", headers=auth).status_code == 200:
            assert time.monotonic() - disabled_at < 3, "revocation did not reach the server"
            time.sleep(0.05)
        assert time.monotonic() - disabled_at < 1.5


@pytest.mark.parametrize("size", [16 * 1024, 200 * 1024])
def test_huge_headers_get_a_4xx_and_the_server_survives(server: Server, size: int) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.get("/test", headers={"Authorization": "Bearer " + "a" * size})
        assert 400 <= response.status_code < 500
        assert http.get("/health").status_code == 200


def test_a_body_over_one_mebibyte_gets_413_from_the_real_server(server: Server) -> None:
    response = httpx.post(f"{server.url}/sign-up", content=b"{" + b" " * (1024 * 1024) + b"}")
    assert response.status_code == 413


def test_a_sign_in_flood_does_not_stall_the_guarded_route(server: Server) -> None:
    """argon2id runs on the hashing pool, so the event loop keeps answering /test."""
    with httpx.Client(base_url=server.url) as http:
        http.post("/sign-up", json={"email": "flood@example.com", "password": PASSWORD})
        token = http.post(
            "/sign-in", json={"email": "flood@example.com", "password": PASSWORD}
        ).json()["access_token"]
        for flooder in range(16):
            email = f"flood{flooder}@example.com"
            http.post("/sign-up", json={"email": email, "password": PASSWORD})
    stop = threading.Event()
    sign_ins: list[int] = []

    def flood(flooder: int) -> None:
        # An account each: concurrent sign-ins to one account are held to its throttle
        # (each is counted before its password is checked), which is not what this measures.
        credentials = {"email": f"flood{flooder}@example.com", "password": PASSWORD}
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                sign_ins.append(http.post("/sign-in", json=credentials).status_code)

    latencies = []
    with ThreadPoolExecutor(16) as pool, httpx.Client(base_url=server.url) as http:
        for flooder in range(16):
            pool.submit(flood, flooder)
        time.sleep(0.5)  # let the hashing queue fill
        for _ in range(40):
            started = time.perf_counter()
            assert (
                http.get("/test", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            )
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        stop.set()
    assert set(sign_ins) == {200}
    assert len(sign_ins) >= 16
    # One argon2id hash alone takes tens of milliseconds; sixteen queued ones, hundreds.
    assert statistics.median(latencies) < 0.1
