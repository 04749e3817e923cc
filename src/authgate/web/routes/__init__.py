"""The HTTP routes of DESIGN.md §2, one module per noun: parse, call a use case, answer.

The modules' routes are registered in the order of DESIGN.md §2, which is the order of the
published OpenAPI document; a new route goes into its noun's module and into `ORDER`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import BaseRoute

from authgate.web.routes import (
    accounts,
    discovery,
    email,
    mfa,
    passkeys,
    passwords,
    sessions,
    tokens,
    tutorial,
)

ORDER = (
    "/sign-up",
    "/sign-in",
    "/token",
    "/test",
    "/me",
    "/sign-out",
    "/sign-out-all",
    "/sessions",
    "/sessions/{session_id}",
    "/.well-known/jwks.json",
    "/metrics",
    "/.well-known/openid-configuration",
    "/health",
    "/ready",
    # DESIGN.md §8
    "/email/verify/request",
    "/email/verify",
    "/password/forgot",
    "/password/reset",
    "/password/change",
    "/email/change",
    "/email/change/confirm",
    "/email/change/revert",
    # DESIGN.md §9
    "/mfa",
    "/mfa/totp",
    "/mfa/totp/confirm",
    "/mfa/recovery-codes",
    "/sign-in/mfa",
    "/reauthenticate",
    "/passkeys/register/options",
    "/passkeys",
    "/passkeys/{passkey_id}",
    "/passkeys/authenticate/options",
    "/sign-in/passkey",
)


# What a session without a second factor may do under AUTHGATE_MFA=required: who am I,
# set one up (or confirm who it is first), and leave.
BEFORE_MFA = (
    "/me",
    "/mfa",
    "/mfa/totp",
    "/mfa/totp/confirm",
    "/passkeys/register/options",
    "/passkeys",
    "/reauthenticate",
    "/sign-out",
    "/sign-out-all",
    "/email/verify/request",
)


def _ordered() -> APIRouter:
    every = APIRouter()
    modules = (accounts, tokens, tutorial, sessions, discovery, email, passwords, mfa, passkeys)
    routes = [r for m in modules for r in m.router.routes]
    every.routes.extend(sorted(routes, key=_position))  # stable: GET before POST as written
    return every


def _position(route: BaseRoute) -> int:
    path = getattr(route, "path", None)
    if path not in ORDER:
        raise RuntimeError(f"route {path} has no place in ORDER (web/routes/__init__.py)")
    return ORDER.index(path)


router = _ordered()
