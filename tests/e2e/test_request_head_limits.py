"""Request heads are bounded: 431 past 64 KiB or 128 header fields, and the server keeps serving.

Raw sockets against a real `authgate serve`, since the limit lives in the HTTP protocol
the command runs, below the app. Each request is sent whole without waiting: the server
may refuse and close before it has read everything, which the client sees as a reset.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, THROTTLES, bearer
from servers import Server

from . import http_client

KiB = 1024
MiB = 1024 * KiB


def request(*fields: bytes, target: bytes = b"/health") -> bytes:
    return (
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(fields)
        + b"Connection: close\r\n\r\n"
    )  # fmt: skip


def exchange(server: Server, data: bytes) -> bytes | None:
    """Send `data` at once and read the answer; None when the server closed on us unanswered."""
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(64 * KiB):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    return answer or None


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def assert_refused_with_431(answer: bytes | None) -> None:
    assert answer is not None, "the server closed the connection without answering"
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert statuses(answer) == [431], answer[:200]
    assert b"\r\nconnection: close" in head
    assert b'"error": "headers_too_large"' in answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("server"), settings=THROTTLES) as running:
        yield running


def resident_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.mark.parametrize(
    ("data", "answers_first"),
    [
        # Sent in one go, these heads are read whole before the answer: it must be a 431.
        pytest.param(request(b"X-Big: " + b"a" * 70 * KiB + b"\r\n"), True, id="70-KiB-header"),
        pytest.param(request(b"X-Field: v\r\n" * 200), True, id="200-small-fields"),
        pytest.param(
            request(*[b"X-Field-%d: %s\r\n" % (n, b"v" * 1000) for n in range(70)]),
            True,
            id="70-fields-of-1-KiB",
        ),
        # Far past the limit: the server may close before it has read it all.
        pytest.param(request(b"X-Big: " + b"a" * 8 * MiB + b"\r\n"), False, id="8-MiB-header"),
        pytest.param(request(b"X-Field: v\r\n" * 200_000), False, id="200000-fields"),
    ],
)
def test_an_oversized_request_head_is_refused_and_the_server_keeps_serving(
    server: Server, data: bytes, answers_first: bool
) -> None:
    answer = exchange(server, data)
    if answers_first or answer is not None:
        assert_refused_with_431(answer)
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_a_pipelined_oversized_head_is_answered_after_the_request_before_it(
    server: Server,
) -> None:
    first = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answer = exchange(server, first + request(b"X-Big: " + b"a" * 70 * KiB + b"\r\n"))
    assert answer is not None
    assert statuses(answer) == [200, 431]


def test_a_request_with_a_4_KiB_cookie_is_answered(server: Server) -> None:
    with http_client(server.url) as http:
        credentials = {"email": "cookie@example.com", "password": PASSWORD}
        assert http.post("/sign-up", json=credentials).status_code == 201
        token = http.post("/sign-in", json=credentials).json()["access_token"]
        response = http.get("/test", headers={**bearer(token), "Cookie": "prefs=" + "c" * 4 * KiB})
    assert response.status_code == 200


def test_an_8_MiB_header_does_not_grow_the_server_memory(tmp_path: Path) -> None:
    # A server of its own: one that has held a big head before would reuse that memory.
    with Server(tmp_path / "server", settings=THROTTLES) as fresh:
        assert fresh.process is not None
        pid = fresh.process.pid  # `serve` becomes the uvicorn process, which serves alone
        before = resident_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from now
        exchange(fresh, request(b"X-Big: " + b"a" * 8 * MiB + b"\r\n"))
        assert httpx.get(f"{fresh.url}/health", timeout=10).status_code == 200
        assert resident_kib(pid, "VmHWM") - before < 2 * KiB  # under 2 MiB, even at its peak
