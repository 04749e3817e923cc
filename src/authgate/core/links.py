"""One-time links sent by mail: 256 random bits, kept only as SHA-256, one purpose each."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from authgate.core.store import UserId

# token_urlsafe(32): 256 bits in 43 base64url characters; anything else is refused unread.
LINK_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class Purpose(StrEnum):
    """What a link does when its button is pressed; a link works for its purpose only."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password
    CHANGE_EMAIL = "change_email"  # sent to the new address: confirms the change
    REVERT_EMAIL = "revert_email"  # sent to the old address: "this wasn't me"


# Where each link lands: a page with a button (GET consumes nothing; mail scanners follow
# links), whose POST to the same path spends the token.
LANDING = {
    Purpose.VERIFY_EMAIL: "/email/verify",
    Purpose.RESET_PASSWORD: "/password/reset",
    Purpose.CHANGE_EMAIL: "/email/change/confirm",
    Purpose.REVERT_EMAIL: "/email/change/revert",
}


@dataclass(frozen=True, slots=True)
class LinkToken:
    """A stored link: the token's hash, whose it is, what for, and the address it concerns."""

    token_hash: str
    user_id: UserId
    purpose: Purpose
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, purpose: Purpose, *, now: datetime) -> bool:
        return self.purpose is purpose and self.used_at is None and now < self.expires_at


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_url(public_url: str, purpose: Purpose, token: str) -> str:
    """The link as mailed: always from AUTHGATE_PUBLIC_URL, never from a request's Host."""
    return f"{public_url.rstrip('/')}{LANDING[purpose]}?token={token}"
