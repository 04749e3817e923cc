"""Soak test: minutes of mixed traffic against a real `authgate serve` process.

Prints the server's RSS at start and end, error counts, and p50/p99 latency per route,
and writes the table to bench/results/soak.md. Not part of CI.

    python bench/soak.py --minutes 10 --clients 8

Each client is a user's life on a loop: sign up, sign in, then rounds of GET /test,
GET /me, POST /token (rotation), GET /sessions, and now and then a sign-out and a new
sign-in. Errors are transport failures, 5xx answers, and any status the step did not
expect (a 401 on a token that should work counts as an error).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
RESULTS = Path(__file__).parent / "results" / "soak.md"


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def call(
        self, http: httpx.Client, route: str, expect: int, method: str, url: str, **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            with self._lock:
                self.errors[f"{route} transport"] += 1
            return None
        elapsed = time.perf_counter() - started
        with self._lock:
            self.latency[route].append(elapsed)
            if response.status_code != expect:
                self.errors[f"{route} {response.status_code}"] += 1
        return response if response.status_code == expect else None


def user_life(url: str, recorder: Recorder, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            email = f"soak-{uuid.uuid4().hex[:12]}@example.com"
            credentials = {"email": email, "password": PASSWORD}
            if (
                recorder.call(http, "POST /sign-up", 201, "POST", "/sign-up", json=credentials)
                is None
            ):
                continue
            for _ in range(3):  # three sessions per user, each signed out at the end
                signed_in = recorder.call(
                    http, "POST /sign-in", 200, "POST", "/sign-in", json=credentials
                )
                if signed_in is None:
                    break
                tokens = signed_in.json()
                for _ in range(5):
                    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
                    for _ in range(10):
                        recorder.call(http, "GET /test", 200, "GET", "/test", headers=auth)
                    recorder.call(http, "GET /me", 200, "GET", "/me", headers=auth)
                    recorder.call(http, "GET /sessions", 200, "GET", "/sessions", headers=auth)
                    rotated = recorder.call(
                        http,
                        "POST /token",
                        200,
                        "POST",
                        "/token",
                        json={"refresh_token": tokens["refresh_token"]},
                    )
                    if rotated is None or stop.is_set():
                        break
                    tokens = rotated.json()
                auth = {"Authorization": f"Bearer {tokens['access_token']}"}
                recorder.call(http, "POST /sign-out", 204, "POST", "/sign-out", headers=auth)
                recorder.call(http, "GET /test (signed out)", 401, "GET", "/test", headers=auth)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="authgate-soak-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        AUTHGATE_DATABASE_URL=f"sqlite:///{folder / 'authgate.db'}",
        AUTHGATE_THROTTLE_SIGN_UP="1000000/minute",
        AUTHGATE_THROTTLE_SIGN_IN_IP="1000000/minute",
        AUTHGATE_THROTTLE_TOKEN="1000000/minute",
    )
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own server, started by path
            [sys.executable, "-m", "authgate", "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    rss = {"start (idle)": rss_mib(server.pid)}
    peak = rss["start (idle)"]

    recorder, stop = Recorder(), threading.Event()
    clients = [
        threading.Thread(target=user_life, args=(url, recorder, stop)) for _ in range(args.clients)
    ]
    started = time.monotonic()
    for client in clients:
        client.start()
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(5)
            peak = max(peak, rss_mib(server.pid))
            if time.monotonic() - started < 60:
                rss["after 1 min"] = rss_mib(server.pid)
    finally:
        stop.set()
        for client in clients:
            client.join()
    rss["end"] = rss_mib(server.pid)
    rss["peak"] = peak
    duration = time.monotonic() - started
    server.terminate()
    server.wait(timeout=30)

    lines = [
        f"Soak: {args.minutes:g} min, {args.clients} clients, one server process on SQLite "
        f"(`python bench/soak.py --minutes {args.minutes:g} --clients {args.clients}`).",
        "",
        "| route | requests | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for route, samples in sorted(recorder.latency.items()):
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        lines.append(
            f"| {route} | {len(samples):,} | {len(samples) / duration:,.1f} | "
            f"{statistics.median(samples) * 1000:.1f} | {p99 * 1000:.1f} |"
        )
    lines += ["", "| server RSS | MiB |", "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in rss.items()]
    total_errors = sum(recorder.errors.values())
    lines += ["", f"errors: {total_errors}"]
    lines += [f"- {name}: {count}" for name, count in sorted(recorder.errors.items())]
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
