"""Real `authgate serve` processes for end-to-end tests: start, stop, kill, restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from services import free_port


@dataclass
class Server:
    """One `python -m authgate serve` process on 127.0.0.1, with its own folder and database.

    The database is `folder/authgate.db` unless `settings` names another; `settings` are
    extra AUTHGATE_* variables. Use as a context manager, or call start() and stop().
    """

    folder: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env["AUTHGATE_DATABASE_URL"] = f"sqlite:///{self.folder / 'authgate.db'}"
        env.update(self.settings)
        return env

    @property
    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, *, timeout: float = 30) -> Server:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "authgate",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--access-log",
                ],
                cwd=self.folder,
                env=self.env,
                stdout=log,  # uvicorn's access log: a token in a URL would show there
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"authgate did not start:\n{self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Shut down gracefully (SIGINT), as Ctrl-C would."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: the crash nothing can catch."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `authgate ARGS` against this server's database and settings."""
        return subprocess.run(
            [sys.executable, "-m", "authgate", *args],
            cwd=self.folder,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def static_page(page: bytes, *, host: str) -> Iterator[str]:
    """Serve one HTML page on a free port of this machine, as `host` names it; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving_http(Handler) as port:
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def serving_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on a free port of 127.0.0.1 answering with `handler`; the port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
