"""RFC 6750 for the framework adapters: the Bearer header in, the refusal and its challenge out.

Each adapter shapes a Refusal into its framework's response; the statuses, error codes and
WWW-Authenticate values are decided here once, as the authgate server answers them:
401 + `Bearer` without a token, 401 + `Bearer error="invalid_token"` for a refused one,
403 + `Bearer error="insufficient_scope", scope="…"` for a valid token without a scope,
401 + `Bearer error="insufficient_user_authentication", …` for a sign-in too old or too weak
for the route (RFC 9470 §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from authgate.core.tokens import SCOPE_TOKEN, AccessClaims
from authgate.errors import InvalidToken, NoCredentials, StaleAuthentication
from authgate.verifier import StepUp


def asgi_authorization(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The first Authorization header of an ASGI scope's `headers`, as Starlette's
    `Headers.get` reads it (ASGI servers lowercase header names), without building one."""
    for name, value in headers:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1), or None.

    The scheme is case-insensitive; any other scheme, or none, means no Bearer token.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def scope_set(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a route requires, checked once where the route is declared.

    Raises:
        ValueError: a scope that is not an RFC 6749 §3.3 scope-token (a string is not a
            list of scopes: pass `["read"]`, not `"read"`).
    """
    if isinstance(scopes, str):
        raise ValueError("pass the scopes as a list of strings, not one string")
    required = frozenset(scopes)
    for scope in required:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"{scope!r} is not a scope-token (RFC 6749 §3.3)")
    return required


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: its status, `{"error", "detail"}` body and challenge."""

    status: int
    error: str
    detail: str
    challenge: str  # the WWW-Authenticate header value

    @classmethod
    def of(cls, exc: NoCredentials | InvalidToken | StaleAuthentication) -> Refusal:
        """401: no token (a bare challenge, RFC 6750 §3.1), a refused one, or a step-up."""
        if isinstance(exc, NoCredentials):
            return cls(401, exc.code, exc.detail, "Bearer")
        if isinstance(exc, StaleAuthentication):
            return cls(401, exc.code, exc.detail, step_up_challenge(exc))
        return cls(401, exc.code, exc.detail, 'Bearer error="invalid_token"')

    @classmethod
    def insufficient_scope(cls, required: frozenset[str]) -> Refusal:
        """403 for a valid token without every scope in `required` (RFC 6750 §3.1)."""
        needed = " ".join(sorted(required))
        return cls(
            403,
            "insufficient_scope",
            f"the access token lacks a scope this route needs: {needed}",
            f'Bearer error="insufficient_scope", scope="{needed}"',
        )

    def body(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


def refusal_for_scopes(claims: AccessClaims, required: frozenset[str]) -> Refusal | None:
    """The 403 to answer when the token lacks a required scope; None when it has them all."""
    return None if required <= claims.scopes else Refusal.insufficient_scope(required)


def refusal_for_step_up(claims: AccessClaims, step_up: StepUp, *, now: datetime) -> Refusal | None:
    """The 401 to answer when the token's sign-in is too old or too weak; None when it will do."""
    try:
        step_up.check(claims, now=now)
    except StaleAuthentication as exc:
        return Refusal.of(exc)
    return None


def step_up_challenge(exc: StaleAuthentication) -> str:
    """RFC 9470 §3's challenge: `max_age` when the sign-in's age was the reason, and for
    missing methods (which have no parameter of their own) an error_description naming them.
    """
    challenge = 'Bearer error="insufficient_user_authentication", error_description='
    if exc.max_age is None:
        return f'{challenge}"Authentication with {" and ".join(exc.missing_amr)} is required"'
    return f'{challenge}"A more recent authentication is required", max_age={exc.max_age}'
