"""Flask: the AuthGate extension and the `require_token` view decorator.

    app = Flask(__name__)
    AuthGate(app, verifier)          # or AuthGate(app): a Verifier from app.config
                                     # (AUTHGATE_ISSUER, AUTHGATE_AUDIENCE, …)

    @app.get("/things")
    @require_token(scopes=["read:things"])
    def things():
        claims = g.authgate_claims  # the AccessClaims of the request's token

    @app.post("/payouts")
    @require_token(max_age=300, require_amr=["otp"])   # a step-up, RFC 9470
    def payout(): ...

Refusals are `{"error", "detail"}` JSON: 401 with `WWW-Authenticate: Bearer` (no token)
or `Bearer error="invalid_token"`, 403 with `Bearer error="insufficient_scope"`, 401 with
`Bearer error="insufficient_user_authentication"` for a sign-in too old or too weak.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from authgate.errors import InvalidToken, NoCredentials
from authgate.verifier import StepUp, Verifier
from authgate.verifier.bearer import (
    Refusal,
    bearer_token,
    refusal_for_scopes,
    refusal_for_step_up,
    scope_set,
)

View = TypeVar("View", bound=Callable[..., Any])
EXTENSION = "authgate"


class AuthGate:
    """The extension: keeps the app's Verifier in `app.extensions["authgate"]`."""

    def __init__(self, app: Flask | None = None, verifier: Verifier | None = None) -> None:
        self.verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, verifier: Verifier | None = None) -> None:
        """Attach a Verifier to `app`: the one given, or one from its AUTHGATE_* config.

        Raises:
            ConfigurationError: the app's config does not describe a Verifier.
        """
        verifier = verifier or self.verifier or Verifier.from_settings(app.config)
        app.extensions[EXTENSION] = verifier


def require_token(
    *,
    scopes: Iterable[str] = (),
    max_age: int | timedelta | None = None,
    require_amr: Iterable[str] = (),
) -> Callable[[View], View]:
    """Guard a view: it runs only for a valid token with every one of `scopes`.

    `max_age` (seconds or a timedelta) and `require_amr` ask for a step-up: a sign-in
    (`auth_time`) at most that old, by every one of those methods (RFC 9470). The claims
    are on `flask.g.authgate_claims` while the view runs. Works for `async def` views too.

    Raises:
        ValueError: a scope that is not an RFC 6749 scope-token, or a bad step-up option.
    """
    required = scope_set(scopes)
    step_up = StepUp.of(max_age=max_age, require_amr=require_amr)

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                verifier = _verifier()
                try:
                    claims = await verifier.averify(_presented_token())
                except (NoCredentials, InvalidToken) as exc:
                    return _answer(Refusal.of(exc))
                refusal = refusal_for_scopes(claims, required)
                if refusal is None and step_up is not None:
                    refusal = refusal_for_step_up(claims, step_up, now=verifier.clock())
                if refusal is not None:
                    return _answer(refusal)
                g.authgate_claims = claims
                return await view(*args, **kwargs)

            return cast(View, guarded_async)

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            verifier = _verifier()
            try:
                claims = verifier.verify(_presented_token())
            except (NoCredentials, InvalidToken) as exc:
                return _answer(Refusal.of(exc))
            refusal = refusal_for_scopes(claims, required)
            if refusal is None and step_up is not None:
                refusal = refusal_for_step_up(claims, step_up, now=verifier.clock())
            if refusal is not None:
                return _answer(refusal)
            g.authgate_claims = claims
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate


def _presented_token() -> str:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise NoCredentials
    return token


def _verifier() -> Verifier:
    verifier = current_app.extensions.get(EXTENSION)
    if not isinstance(verifier, Verifier):
        raise RuntimeError("require_token needs the AuthGate extension: AuthGate(app)")
    return verifier


def _answer(refusal: Refusal) -> ResponseReturnValue:
    return jsonify(refusal.body()), refusal.status, {"WWW-Authenticate": refusal.challenge}
