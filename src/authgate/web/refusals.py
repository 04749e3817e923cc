"""Refused requests, logged: failed authorization (ASVS V16.3.2) and throttled attempts
(V16.3.3), one line each on the `authgate.security` logger.

The answers are web/errors.py's; this says which refusals an operator hears of. A line
holds the refusal's code, the method, the route as declared (`/sessions/{session_id}`:
the raw path and its query are the client's to fill), the client's address, the throttle's
rule and, once the token verified, its subject and session. Never the token, a cookie or
an e-mail (an account's throttle counts by a key made from the e-mail: not logged either).
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from authgate.core.tokens import AccessClaims
from authgate.errors import (
    AuthgateError,
    EnrolmentRequired,
    InvalidToken,
    NoCredentials,
    StaleAuthentication,
    Throttled,
    UnknownPasskey,
    UnknownSession,
)
from authgate.web.errors import CsrfRefused
from authgate.web.logs import key_values

logger = logging.getLogger("authgate.security")

# The refusals logged, and how loud. A token refused, a sign-in too old or without the
# factor AUTHGATE_MFA=required asks for, another user's session or passkey named by id: a
# failed authorization, INFO. Another site's page acting through the browser's cookies
# (CSRF), or someone over a throttle's rate (guessing, flooding): WARNING. A flood writes
# one line per refused request; uvicorn's access log writes one per request already.
LEVELS: dict[type[Exception], int] = {
    NoCredentials: logging.INFO,
    InvalidToken: logging.INFO,
    StaleAuthentication: logging.INFO,
    EnrolmentRequired: logging.INFO,
    UnknownSession: logging.INFO,
    UnknownPasskey: logging.INFO,
    CsrfRefused: logging.WARNING,
    Throttled: logging.WARNING,
}


def log_refusal(
    exc: AuthgateError | CsrfRefused, scope: Scope, *, route: str, claims: AccessClaims | None
) -> None:
    """Log `exc` when it is a refusal of LEVELS: `invalid_token method=GET route=/me ip=…`.

    `claims`: those of the request's token when it verified, else None.
    """
    level = _level(exc)
    if level is None or not logger.isEnabledFor(level):
        return
    client = scope.get("client")
    fields = {
        "method": scope["method"],
        "route": route,
        "ip": client[0] if client else "unknown",
        "rule": exc.rule if isinstance(exc, Throttled) else None,
        "user_id": claims.subject if claims else None,
        "session_id": claims.session_id if claims else None,
        # The answer's words: which check refused (expired, revoked, cross-site, …). Not
        # `detail`, the audit line's object: a log system wants one type per key.
        "why": exc.detail,
    }
    known = {name: value for name, value in fields.items() if value is not None}
    logger.log(level, "%s %s", exc.code, key_values(known), extra={"reason": exc.code, **known})


def _level(exc: Exception) -> int | None:
    for cls in type(exc).__mro__:
        if cls in LEVELS:
            return LEVELS[cls]
    return None
