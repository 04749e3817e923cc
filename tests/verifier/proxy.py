"""A real HTTP server in a thread that relays GETs to an authgate server and counts them.

The Verifier's view of a JWKS endpoint, under the test's control: how often it was asked,
what caching headers it answers with, an ETag, a failure, a slow answer, or no server at
all. Everything it relays comes from the real authgate server behind it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

JWKS_PATH = "/.well-known/jwks.json"


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: Counter[str] = Counter()
        self.not_modified = 0
        self.cache_control: str | None = None  # replaces the upstream's when set
        self.etag = False  # answer with an ETag, and 304 to a matching If-None-Match
        self.failure: tuple[int, bytes] | None = None  # answered instead of relaying
        self.delay = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def fetches(self) -> int:
        return self.requests[JWKS_PATH]

    def stop(self) -> None:
        """Close the port: from now on, connections are refused."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests[self.path] += 1
                time.sleep(proxy.delay)
                if proxy.failure is not None:
                    status, body = proxy.failure
                    self._answer(status, body, {"Content-Type": "application/json"})
                    return
                upstream = httpx.get(proxy.upstream + self.path, timeout=10)
                headers = {
                    "Content-Type": upstream.headers.get("content-type", "application/json"),
                    "Cache-Control": proxy.cache_control or upstream.headers["cache-control"],
                }
                if proxy.etag:
                    tag = '"' + hashlib.sha256(upstream.content).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        proxy.not_modified += 1
                        self._answer(304, b"", headers)
                        return
                self._answer(upstream.status_code, upstream.content, headers)

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
