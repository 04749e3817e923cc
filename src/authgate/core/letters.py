"""Mail as authgate writes it: letters rendered from templates, packed into the outbox.

A template pair per kind, `<kind>.txt` and `<kind>.html`, rendered by Jinja2 (HTML
autoescaped, undefined names an error). The text template's first line is
`Subject: …`. An operator overrides any of them from a directory
(AUTHGATE_MAIL_TEMPLATES); the rest come from the package.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from jinja2 import Environment

from authgate.core.keys import seal, unseal
from authgate.errors import ConfigurationError

State = Literal["pending", "sending", "sent", "dead"]
KINDS = (
    "verify_email",
    "reset_password",
    "confirm_email_change",
    "email_change_requested",
    "email_changed",
    "password_changed",
    "account_deleted",
    "security_notice",
)
MAX_SUBJECT = 255


@dataclass(frozen=True, slots=True)
class Letter:
    """One message to one address, rendered."""

    kind: str
    recipient: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """A letter as the outbox keeps it: the body packed (sealed with the KEK when set).

    The body is None once the letter has been delivered: it may have held a live link.
    """

    id: str
    kind: str
    recipient: str
    subject: str
    body: bytes | None
    sealed: bool
    created_at: datetime
    state: State = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


def pack(letter: Letter, *, now: datetime, key_encryption_key: str | None) -> Envelope:
    """Put a letter in an envelope for the outbox, sealing its body when a KEK is set."""
    body = json.dumps({"text": letter.text, "html": letter.html}).encode()
    return Envelope(
        id=str(uuid.uuid4()),
        kind=letter.kind,
        recipient=letter.recipient,
        subject=letter.subject,
        body=seal(body, key_encryption_key) if key_encryption_key else body,
        sealed=key_encryption_key is not None,
        created_at=now,
        next_attempt_at=now,
    )


def unpack(envelope: Envelope, *, key_encryption_key: str | None) -> Letter | None:
    """The letter in an envelope; None once its body was erased (delivered).

    Raises:
        ConfigurationError: the body is sealed and the KEK is missing or another one.
    """
    if envelope.body is None:
        return None
    body = bytes(envelope.body)
    if envelope.sealed:
        if key_encryption_key is None:
            raise ConfigurationError(
                "the outbox holds mail sealed with AUTHGATE_KEY_ENCRYPTION_KEY, which is not set"
            )
        body = unseal(body, key_encryption_key)
    parts = json.loads(body)
    return Letter(envelope.kind, envelope.recipient, envelope.subject, parts["text"], parts["html"])


def message_id(envelope_id: str, *, sender: str) -> str:
    """A Message-ID that stays the same on every delivery attempt of one envelope.

    Receivers drop a duplicate that a retry after a lost answer would otherwise deliver.
    """
    domain = parseaddr(sender)[1].rpartition("@")[2] or "authgate.invalid"
    return f"<{envelope_id}@{domain}>"


class Templates:
    """The mail templates, from the package or an operator's directory, rendered safely.

    Jinja2 is imported on the first letter, so an idle server does not carry it; an
    operator's directory is read at once, so a broken override stops startup instead.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._env: Environment | None = None
        if directory is not None:
            try:
                for kind in KINDS:
                    self._environment().get_template(f"{kind}.txt")
                    self._environment().get_template(f"{kind}.html")
            except Exception as exc:  # Jinja2's syntax errors, unreadable files
                raise ConfigurationError(
                    f"AUTHGATE_MAIL_TEMPLATES: {type(exc).__name__}: {exc}"
                ) from None

    def _environment(self) -> Environment:
        if self._env is None:
            from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment

            loaders: list[FileSystemLoader | PackageLoader] = []
            if self.directory is not None:
                loaders.append(FileSystemLoader(self.directory))
            loaders.append(PackageLoader("authgate", "core/mail_templates"))
            # Sandboxed: an operator's template reads the values it is given, nothing else.
            self._env = SandboxedEnvironment(
                loader=ChoiceLoader(loaders),
                autoescape=lambda name: name is not None and name.endswith(".html"),
                undefined=StrictUndefined,
                keep_trailing_newline=True,
            )
        return self._env

    def render(self, kind: str, *, to: str, context: Mapping[str, object]) -> Letter:
        """Raises: ValueError for a text template without its `Subject:` line."""
        values = {"email": to, **context}
        env = self._environment()
        head, _, text = env.get_template(f"{kind}.txt").render(values).partition("\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"mail template {kind}.txt must start with a 'Subject: ' line")
        subject = " ".join(head.removeprefix("Subject:").split())[:MAX_SUBJECT]
        html = env.get_template(f"{kind}.html").render(values)
        return Letter(kind, to, subject, text.lstrip("\n"), html)
