"""Shutdown is bounded: SIGTERM stops a server whose hashing threads are busy for long.

A user's stored hash is a legacy bcrypt hash of cost 14 (about a second of one core per
check, the highest cost authgate checks), and many sign-ins with a wrong password queue
behind the hashing threads: tens of seconds of work. The server must not wait for it,
nor may the interpreter, at exit, wait for a pool thread whose work never ends.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path

import bcrypt
import pytest

from helpers import PASSWORD, THROTTLES
from servers import Server

from . import http_client

EMAIL = "legacy@example.com"
SIGN_INS = 40  # twenty seconds of hashing on two threads, under the queue's limit of 64
BOUND = 15.0  # seconds: uvicorn's 10 s grace for requests in flight, and then some


# A pool with one job that never ends and one queued behind it, stopped; then the
# interpreter exits, which joins every thread of a concurrent.futures executor.
ENDLESS_JOB = """
import asyncio, threading
from authgate.web.pools import WorkPool

pool = WorkPool(name="hash", workers=1, queue=4)
never = threading.Event()

async def main():
    running = asyncio.ensure_future(pool.run(never.wait))
    queued = asyncio.ensure_future(pool.run(never.wait))
    await asyncio.sleep(0.2)
    pool.shutdown()
    await asyncio.wait([queued], timeout=5)
    print("queued job cancelled:", queued.cancelled())
    running.cancel()

asyncio.run(main())
"""


def test_a_stopped_pool_cancels_queued_work_and_lets_the_process_exit() -> None:
    try:
        finished = subprocess.run(
            [sys.executable, "-c", ENDLESS_JOB], capture_output=True, text=True, timeout=BOUND
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process was still running {BOUND:.0f} s after its pool was stopped")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "queued job cancelled: True"


def sign_in_request(port: int, password: str) -> bytes:
    body = json.dumps({"email": EMAIL, "password": password}).encode()
    return (
        b"POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body)
    )


def test_sigterm_stops_a_server_whose_hashing_is_busy_within_a_bound(tmp_path: Path) -> None:
    settings = {**THROTTLES, "AUTHGATE_HASHING_WORKERS": "2"}
    with Server(tmp_path / "server", settings=settings) as server, ExitStack() as sockets:
        assert server.process is not None
        with http_client(server.url) as http:
            credentials = {"email": EMAIL, "password": PASSWORD}
            assert http.post("/sign-up", json=credentials).status_code == 201
        slow = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=14)).decode()
        with closing(sqlite3.connect(server.folder / "authgate.db")) as db, db:
            db.execute("UPDATE users SET password_hash = ?", (slow,))

        # Wrong passwords, so no sign-in rehashes the slow hash to a fast one.
        for _ in range(SIGN_INS):
            sock = sockets.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            sock.sendall(sign_in_request(server.port, "not the password at all"))
        time.sleep(1.5)  # the first checks are under way, the rest queued
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            server.process.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail(f"the server was still running {BOUND:.0f} s after SIGTERM")
        assert time.monotonic() - started < BOUND
