"""Password hashing (argon2id, with bcrypt accepted for legacy hashes) and the password policy.

Presets have names, like argon2-cffi's profiles: RECOMMENDED follows OWASP's argon2id
parameters (m=19 MiB, t=2, p=1); FAST_FOR_TESTS keeps test suites quick.
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, NoReturn, Protocol

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

from authgate.core.breached import offline_breached
from authgate.errors import InvalidCredentials, PasswordRejected

MAX_LENGTH = 1024
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; Node's bcrypt silently truncated here
# Each step of bcrypt's cost doubles its work: 14 takes about a second of one core, 31 takes
# days. A stored hash above this is refused, never computed, so it cannot hold a hashing
# thread; imports refuse such hashes too (core/mongo_import.py).
BCRYPT_MAX_COST = 14
BCRYPT_COST = re.compile(r"\$2[aby]\$([0-9]{2})\$")
# Context words shorter than this are not refused inside passwords: "io", "me", "jo".
MIN_CONTEXT_WORD = 3
# Words that say nothing of the service: a host's "www", a mail's "no-reply".
UNTELLING = frozenset({"www", "com", "org", "net", "localhost", "mail", "reply", "noreply"})

logger = logging.getLogger("authgate")


@dataclass(frozen=True, slots=True)
class Preset:
    """argon2id cost parameters."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int


RECOMMENDED = Preset(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)
FAST_FOR_TESTS = Preset(time_cost=1, memory_cost_kib=64, parallelism=1)
PRESETS = {"recommended": RECOMMENDED, "fast-for-tests": FAST_FOR_TESTS}


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased (NIST SP 800-63B §5.1.1.2)."""
    text = resources.files("authgate.core").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


class BreachCheck(Protocol):
    """An online breach list (core/breached.py): True, False, or None when unavailable."""

    def seen(self, password: str) -> bool | None: ...


class Passwords:
    """Hashes, verifies and judges passwords with one fixed set of parameters."""

    def __init__(
        self,
        preset: Preset = RECOMMENDED,
        *,
        min_length: int = 8,
        context_words: Iterable[str] = (),
        breach_check: BreachCheck | None = None,
    ) -> None:
        if not 1 <= min_length <= MAX_LENGTH:
            raise ValueError(f"min_length must be between 1 and {MAX_LENGTH}")
        self.min_length = min_length
        self.context_words = _context(context_words)
        self._breach_check = breach_check
        self._argon2 = argon2.PasswordHasher(
            time_cost=preset.time_cost,
            memory_cost=preset.memory_cost_kib,
            parallelism=preset.parallelism,
            type=argon2.Type.ID,
        )
        # Unknown e-mails are checked against this, so they cost what a real check costs.
        self._dummy_hash = self._argon2.hash("authgate dummy password")

    def check_policy(self, password: str, *, email: str | None = None) -> None:
        """Refuse a new password that is too short, too long, common, breached or guessable.

        Length and the lists are judged on what is hashed, too (NFKC): full-width letters
        do not make "password" uncommon, and combining sequences do not make it longer.
        Guessable: what remains once the service's names and the parts of the user's
        address are taken out is shorter than the minimum ("authgate2024", "alice1990!"
        for alice@example.com), so those words never carry a password's length. No
        composition rules: length and these lists are what NIST SP 800-63B asks.

        Raises:
            PasswordRejected: with a reason a person can act on.
        """
        if len(password) > MAX_LENGTH:
            raise PasswordRejected(f"the password must be at most {MAX_LENGTH} characters")
        normalized = _normalize(password)
        if min(len(password), len(normalized)) < self.min_length:
            raise PasswordRejected(f"the password must be at least {self.min_length} characters")
        if not _encodable(password):
            raise PasswordRejected("the password contains unpaired surrogate characters")
        folded = _folded(normalized)
        if folded in common_passwords() or folded in offline_breached():
            raise PasswordRejected("the password is too common; choose another")
        words = self.context_words | (_address_words(email) if email else frozenset())
        if (email and folded == _folded(email)) or len(_without(folded, words)) < self.min_length:
            raise PasswordRejected(
                "the password is made mostly of this service's name or your e-mail address; "
                "choose another"
            )
        if self._breach_check is not None and any(
            self._breach_check.seen(candidate)
            for candidate in dict.fromkeys((password, normalized))
        ):
            raise PasswordRejected(
                "the password appears in a known data breach; choose one you have not used before"
            )

    def hash(self, password: str) -> str:
        """Hash a password with argon2id (NFKC-normalised, NIST SP 800-63B §5.1.1.2)."""
        return self._argon2.hash(_normalize(password))

    def verify(self, stored_hash: str, password: str) -> Literal[True]:
        """Check a password against an argon2id or a legacy bcrypt hash.

        Raises:
            InvalidCredentials: the password does not match, or the hash is unreadable.
        """
        if len(password) > MAX_LENGTH or not _encodable(password):
            raise InvalidCredentials
        if stored_hash.startswith(BCRYPT_PREFIXES):
            cost = bcrypt_cost(stored_hash)
            if cost is None or cost > BCRYPT_MAX_COST:
                # No user here to name; the caller's audit event says whose sign-in failed.
                logger.warning(
                    "refused a stored bcrypt hash without checking it: its cost is %s, and "
                    "authgate checks costs up to %d; set a new password for its user",
                    "unreadable" if cost is None else cost,
                    BCRYPT_MAX_COST,
                )
                self.verify_dummy(password)  # the work of a failed check, then the failure
            return _verify_bcrypt(stored_hash, password)
        try:
            return self._argon2.verify(stored_hash, _normalize(password))
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials from None

    def verify_dummy(self, password: str) -> NoReturn:
        """Do the work of a real verification, then fail: for unknown accounts.

        Raises:
            InvalidCredentials: always.
        """
        if len(password) > MAX_LENGTH or not _encodable(password):
            raise InvalidCredentials  # refused before hashing, as verify() does
        with contextlib.suppress(VerificationError):
            self._argon2.verify(self._dummy_hash, _normalize(password))
        raise InvalidCredentials

    def needs_rehash(self, stored_hash: str, password: str) -> bool:
        """True for bcrypt hashes and argon2 hashes made with other parameters.

        A bcrypt hash verified only the password's first 72 bytes; rehashing a longer
        password would lock out its owner if they typed a different tail this time, so
        such hashes stay bcrypt (they keep working exactly as they did under Node).
        """
        if stored_hash.startswith(BCRYPT_PREFIXES):
            return len(password.encode("utf-8")) <= BCRYPT_MAX_BYTES
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def is_password_hash(value: str) -> bool:
    """True when `value` looks like a hash this module can verify."""
    if value.startswith(BCRYPT_PREFIXES):
        cost = bcrypt_cost(value)
        return cost is not None and cost <= BCRYPT_MAX_COST
    return value.startswith("$argon2id$")


def bcrypt_cost(stored_hash: str) -> int | None:
    """The cost a `$2a$`, `$2b$` or `$2y$` hash names, or None when it names none."""
    found = BCRYPT_COST.match(stored_hash)
    return int(found[1]) if found else None


def _verify_bcrypt(stored_hash: str, password: str) -> Literal[True]:
    # The Node tutorial's bcrypt hashed only the first 72 bytes, so that is what the
    # stored hash can check; the argon2id rehash that follows keeps the whole password.
    candidate = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    try:
        matched = bcrypt.checkpw(candidate, stored_hash.encode("ascii"))
    except ValueError:
        matched = False
    if not matched:
        raise InvalidCredentials
    return True


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _folded(text: str) -> str:
    """The form a password meets the common list in: NFKC, case-folded, NFKC again."""
    return _normalize(_normalize(text).casefold())


def context_words(*sources: str) -> frozenset[str]:
    """The words of a service's names: host labels, display names ("Acme Shop <no-reply@...>")."""
    return _context(re.split(r"[^\w]+", " ".join(sources)))


def _context(words: Iterable[str]) -> frozenset[str]:
    folded = (_folded(word.strip()) for word in words)
    return frozenset(w for w in folded if len(w) >= MIN_CONTEXT_WORD and w not in UNTELLING)


def _address_words(email: str) -> frozenset[str]:
    """The local part and the domain's labels, whole and split: jane.doe, jane, doe, acme."""
    local, _, domain = email.rpartition("@")
    labels = domain.split(".")[:-1]  # the top-level domain tells nothing
    parts = [*re.split(r"[._+-]+", local), *(p for label in labels for p in label.split("-"))]
    return _context([local, *labels, *parts])


def _without(folded: str, words: Iterable[str]) -> str:
    """The password with every context word taken out, longest words first."""
    for word in sorted(words, key=len, reverse=True):
        folded = folded.replace(word, "")
    return folded


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
