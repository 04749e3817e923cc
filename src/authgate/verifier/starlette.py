"""Starlette: an AuthenticationBackend, so `request.user`, `request.auth` and `@requires` work.

    app = Starlette(
        routes=[Route("/things", things)],
        middleware=[authgate.verifier.starlette.middleware(verifier)],
        exception_handlers=authgate.verifier.starlette.CHALLENGES,
    )

    @requires("read:things")
    async def things(request):
        claims = request.user.claims   # request.auth.scopes: "authenticated" + the token's

    @requires_step_up(max_age=300, require_amr=["otp"])
    async def payout(request): ...

A refused token gets 401 + `Bearer error="invalid_token"` from the middleware (its
`on_error`); CHALLENGES turns `@requires`' plain 403 into RFC 6750's answers: 401 +
`Bearer` without a token, 403 + `Bearer error="insufficient_scope"` with one.
`@requires_step_up` answers 401 + `Bearer error="insufficient_user_authentication"`
(RFC 9470) itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar, cast

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from authgate.core.clock import Clock, utc_now
from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken, NoCredentials
from authgate.verifier import StepUp, Verifier
from authgate.verifier.bearer import (
    Refusal,
    asgi_authorization,
    bearer_token,
    refusal_for_step_up,
)

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class TokenUser(BaseUser):
    """`request.user` for a request with a valid token: who it names, and all its claims.

    `clock` is its verifier's, for `requires_step_up` to judge the sign-in's age.
    """

    def __init__(self, claims: AccessClaims, clock: Clock = utc_now) -> None:
        self.claims = claims
        self.clock = clock

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.claims.email

    @property
    def identity(self) -> str:
        return self.claims.subject


class RefusedToken(AuthenticationError):
    """The request's Bearer token was refused; `refusal` is the answer to give."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


class AuthgateBackend(AuthenticationBackend):
    """Authenticates requests by their Bearer token; a request without one stays anonymous."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = bearer_token(asgi_authorization(conn.scope["headers"]))
        if token is None:
            return None
        try:
            claims = await self.verifier.averify(token)
        except InvalidToken as exc:
            raise RefusedToken(Refusal.of(exc)) from None
        credentials = AuthCredentials(["authenticated", *sorted(claims.scopes)])
        return credentials, TokenUser(claims, self.verifier.clock)


def refuse_token(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """AuthenticationMiddleware's `on_error`: 401 + `Bearer error="invalid_token"`."""
    refusal = exc.refusal if isinstance(exc, RefusedToken) else Refusal.of(InvalidToken())
    return _answer(refusal)


def middleware(verifier: Verifier) -> Middleware:
    """AuthenticationMiddleware with AuthgateBackend and `refuse_token`, for `middleware=[…]`."""
    return Middleware(
        AuthenticationMiddleware, backend=AuthgateBackend(verifier), on_error=refuse_token
    )


async def challenge(request: Request, exc: Exception) -> Response:
    """Answer `@requires`' 401 or 403 the RFC 6750 way, by whether a token was presented.

    A 403 for a request with a valid token is a missing scope; anything else here is a
    request without a token, which gets 401 and a bare `Bearer` challenge.
    """
    if not isinstance(exc, HTTPException):
        raise exc
    user = request.scope.get("user")
    if exc.status_code == 403 and getattr(user, "is_authenticated", False):
        return _answer(
            Refusal(
                403,
                "insufficient_scope",
                "the access token lacks a scope this route needs",
                'Bearer error="insufficient_scope"',
            )
        )
    return _answer(Refusal.of(NoCredentials()))


CHALLENGES = {401: challenge, 403: challenge}


def requires_step_up(
    *, max_age: int | timedelta | None = None, require_amr: Iterable[str] = ()
) -> Callable[[Endpoint], Endpoint]:
    """Guard an HTTP endpoint (sync or async, taking `request`) with a step-up (RFC 9470).

    It runs only for a valid token whose sign-in (`auth_time`) is at most `max_age` old
    (seconds or a timedelta) and used every method of `require_amr`; otherwise the answer
    is 401 + `Bearer error="insufficient_user_authentication"`, or 401 + `Bearer` without
    a token. Without options it changes nothing.

    Raises:
        ValueError: a bad option (see StepUp.of), or an endpoint without a `request`.
    """
    step_up = StepUp.of(max_age=max_age, require_amr=require_amr)

    def decorate(endpoint: Endpoint) -> Endpoint:
        if step_up is None:
            return endpoint
        names = list(inspect.signature(endpoint).parameters)
        if "request" not in names:
            raise ValueError(f"{endpoint.__qualname__} takes no `request` to guard")
        position = names.index("request")

        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                refused = _step_up_refusal(kwargs.get("request") or args[position], step_up)
                return refused if refused is not None else await endpoint(*args, **kwargs)

            return cast(Endpoint, guarded_async)

        @functools.wraps(endpoint)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            refused = _step_up_refusal(kwargs.get("request") or args[position], step_up)
            return refused if refused is not None else endpoint(*args, **kwargs)

        return cast(Endpoint, guarded)

    return decorate


def _step_up_refusal(request: Request, step_up: StepUp) -> Response | None:
    user = request.scope.get("user")
    if not isinstance(user, TokenUser):
        return _answer(Refusal.of(NoCredentials()))
    refusal = refusal_for_step_up(user.claims, step_up, now=user.clock())
    return None if refusal is None else _answer(refusal)


def _answer(refusal: Refusal) -> Response:
    return JSONResponse(
        refusal.body(),
        status_code=refusal.status,
        headers={"WWW-Authenticate": refusal.challenge},
    )
