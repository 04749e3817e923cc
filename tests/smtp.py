"""A real SMTP server for the tests: aiosmtpd on a free port of 127.0.0.1, in a thread.

It keeps every message it accepts, can be told to refuse (a 4xx "try later" or a 5xx "no
such user") and can be stopped and started again on the same port, so the tests see how
authgate's sender behaves when the server is down and comes back.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://[^\s\"'<>]+")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """An SMTP server and the messages it received, in order."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.refusal: str | None = None  # e.g. "451 4.3.0 try again later"
        self.attempts = 0  # DATA commands seen, accepted or not
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Mailbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            if self.refusal is not None:
                return self.refusal
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
        return "250 OK"

    def wait_for(self, count: int, *, timeout: float = 20) -> list[EmailMessage]:
        """The first `count` messages, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def links_in(message: EmailMessage) -> list[str]:
    """Every link in both bodies of a message, as a mail scanner would collect them."""
    found = LINK.findall(text_of(message)) + [
        html.unescape(u) for u in LINK.findall(html_of(message))
    ]
    return list(dict.fromkeys(found))
