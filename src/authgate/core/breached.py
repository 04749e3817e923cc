"""Breached passwords (ASVS V6.2.12): an offline list, and optionally a k-anonymity range API.

The offline list is the 30,000 most common passwords of public breaches that zxcvbn ships
(and keeps current with its releases); authgate's own list of 10,000 common passwords is
checked beside it (core/passwords.py). The range API is Have I Been Pwned's Pwned Passwords
protocol: the server sends the first 5 hex digits of the password's SHA-1 and reads back
every suffix with that prefix, so neither the password nor its hash leaves the server.
SHA-1 here is the protocol's lookup key, not a protection of anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

logger = logging.getLogger("authgate")

Outcome = Literal["breached", "clean", "unavailable"]
PREFIX_LENGTH = 5
MAX_RESPONSE_BYTES = 2 * 1024 * 1024  # a real answer is about 40 KiB with padding


@cache
def offline_breached() -> frozenset[str]:
    """zxcvbn's list of breached passwords, lowercased as it ships.

    Read from its data module without importing the package: zxcvbn's `__init__` builds the
    ranked dictionaries of its strength estimator (about 14 MiB) that authgate does not use.
    """
    package = importlib.util.find_spec("zxcvbn")
    if package is None or not package.submodule_search_locations:
        raise RuntimeError("the zxcvbn package (authgate's offline breached list) is missing")
    path = Path(next(iter(package.submodule_search_locations))) / "frequency_lists.py"
    spec = importlib.util.spec_from_file_location("authgate._zxcvbn_lists", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot read zxcvbn's lists at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    passwords: list[str] = module.FREQUENCY_LISTS["passwords"]
    return frozenset(passwords)


class RangeApi:
    """Asks a Pwned Passwords range API whether a password appeared in a breach.

    Synchronous on purpose: the password policy runs on the hashing threads, never on the
    event loop. A failure (network, timeout, a status other than 200, an unreadable body)
    answers None and the offline lists decide: an outage of a third party must not stop
    sign-ups, and is logged and counted so that operators see it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        on_check: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        import httpx  # on first use: only servers with the setting pay for it

        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
            # Padding makes every answer about the same size, whatever the prefix.
            headers={"Add-Padding": "true", "User-Agent": "authgate"},
        )
        self._on_check = on_check

    def seen(self, password: str) -> bool | None:
        """True when the API lists the password, False when not, None when unavailable."""
        import httpx

        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest()
        prefix, suffix = digest[:PREFIX_LENGTH].upper(), digest[PREFIX_LENGTH:].upper()
        try:
            body = self._fetch(prefix)
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning(
                "the breached-password API at AUTHGATE_BREACHED_PASSWORDS_URL did not answer "
                "(%s); the offline lists decided",
                type(exc).__name__,
            )
            self._on_check("unavailable")
            return None
        found = _listed(body, suffix)
        self._on_check("breached" if found else "clean")
        return found

    def close(self) -> None:
        self._client.close()

    def _fetch(self, prefix: str) -> str:
        with self._client.stream("GET", f"/range/{prefix}") as response:
            if response.status_code != 200:
                raise ValueError(f"status {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ValueError("answer too large")
                chunks.append(chunk)
        return b"".join(chunks).decode("ascii")


def _listed(body: str, suffix: str) -> bool:
    """Whether `suffix` is in the answer with a count above 0 (padding lines have 0)."""
    for line in body.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            return count.strip().isdigit() and int(count) > 0
    return False
