"""uvicorn's httptools protocol with a bounded request head: 431 past 64 KiB or 128 fields.

uvicorn's httptools protocol (the fast one, and the default) reads a request head of
any size: an 8 MiB header, or 200,000 fields, all held in memory until the head ends.
uvicorn's h11 protocol has a limit but serves GET /test at a third of the rate (10,200
vs 29,400 req/s, wrk -c64), so `authgate serve` runs this subclass instead, at the same
rate as the stock protocol (29,300): `--http authgate.web.server:BoundedHttpToolsProtocol`.

Two checks, both cheap on the hot path:
- while a head is still arriving, the bytes received for it, so a head that never ends
  costs at most the limit and a read or two; and the size of the fields parsed so far;
- when the head is complete, its size: the URL plus every field's name and value, and
  the number of fields (past the limit, no more are kept).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 128  # browsers send about 20; nginx and Apache allow about 100 lines

_BODY = json.dumps(
    {
        "error": "headers_too_large",
        "detail": f"the request head is over {MAX_HEAD_BYTES // 1024} KiB "
        f"or has over {MAX_HEADER_FIELDS} header fields",
    }
).encode()
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"connection", b"close"),
]


async def _head_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app a complete but oversized head is handed to instead of authgate's."""
    await send({"type": "http.response.start", "status": 431, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol that answers 431 and closes past the head limits.

    uvicorn offers no hook for this; its protocol class is the extension point its
    `--http` option takes, so this subclass adds a counter to four of its callbacks. They
    call the base class directly, not through super(): they run for every request and
    header, and on Python 3.11 that halves what the subclass adds (measured in-process:
    0.6 µs per request over the stock protocol instead of 1.4).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_pending = True  # between the end of one head and the start of the next: False
        self._head_received = 0  # bytes read while a head was pending (an undercount, never over)
        self._head_size = 0  # the URL's and fields' bytes parsed so far
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the 431 is out or the connection ends after the current response
        if self._head_pending:
            self._head_received += len(data)
        HttpToolsProtocol.data_received(self, data)
        if (
            self._head_pending
            and (self._head_received > MAX_HEAD_BYTES or self._head_size > MAX_HEAD_BYTES)
            and not self.transport.is_closing()  # e.g. uvicorn's 400 for a malformed head
        ):
            self._refuse_unfinished_head()

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._head_pending = True
        self._head_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if len(self.headers) < MAX_HEADER_FIELDS:
            HttpToolsProtocol.on_header(self, name, value)
        else:  # too many fields: count the head as too large, and keep no more of it
            self._head_size += MAX_HEAD_BYTES

    def on_headers_complete(self) -> None:
        self._head_pending = False
        self._head_received = 0
        if self._head_size + len(self.url) <= MAX_HEAD_BYTES:
            HttpToolsProtocol.on_headers_complete(self)
            return
        # Through uvicorn's own request cycle, as its 503 for --limit-concurrency goes: the
        # answer waits its turn behind pipelined requests and ends the connection.
        app, self.app = self.app, _head_too_large
        try:
            HttpToolsProtocol.on_headers_complete(self)
        finally:
            self.app = app
        self._refused = True

    def _refuse_unfinished_head(self) -> None:
        """Answer 431 to a head that is over the limit before it even ended, and close."""
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            # Earlier (pipelined) requests are still being answered: the 431 follows the
            # last of their responses instead of cutting into one.
            self.cycle.on_response = self._send_431
            self.flow.pause_reading()
            return
        self._send_431()

    def _send_431(self) -> None:
        if self.transport.is_closing():
            return  # the request before said Connection: close, and has been answered
        head = [STATUS_LINE[431]]
        for name, value in [*self.server_state.default_headers, *_HEADERS]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", _BODY]))
        self.transport.close()
