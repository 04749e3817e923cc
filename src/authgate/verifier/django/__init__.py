"""Django: a middleware, a view decorator and the one Verifier that settings.AUTHGATE describes.

    AUTHGATE = {"ISSUER": "https://auth.example.com"}  # and AUDIENCE, JWKS_URL, KEYS,
    # LEEWAY, REDIS_URL, …: the names of Verifier.from_settings, without a prefix
    MIDDLEWARE = [..., "authgate.verifier.django.AuthgateMiddleware"]

    @require_token(scopes=["read:things"])
    def things(request):
        claims = request.authgate_claims

    @require_token(max_age=300, require_amr=["otp"])   # a step-up, RFC 9470
    def payout(request): ...

Refusals are `{"error", "detail"}` JSON: 401 with `WWW-Authenticate: Bearer` (no token)
or `Bearer error="invalid_token"`, 403 with `Bearer error="insufficient_scope"`, 401 with
`Bearer error="insufficient_user_authentication"` for a sign-in too old or too weak. Django
REST framework's pieces are in `authgate.verifier.django.rest_framework`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from authgate.core.tokens import AccessClaims
from authgate.errors import ConfigurationError, InvalidToken, NoCredentials
from authgate.verifier import StepUp, Verifier
from authgate.verifier.bearer import (
    Refusal,
    bearer_token,
    refusal_for_scopes,
    refusal_for_step_up,
    scope_set,
)

View = TypeVar("View", bound=Callable[..., Any])


@functools.cache
def configured_verifier() -> Verifier:
    """The Verifier of settings.AUTHGATE, made once (and again when a test overrides it).

    Raises:
        ImproperlyConfigured: AUTHGATE is missing or does not describe a Verifier.
    """
    config = getattr(settings, "AUTHGATE", None)
    if not isinstance(config, Mapping):
        raise ImproperlyConfigured('settings.AUTHGATE must be a dict such as {"ISSUER": "…"}')
    try:
        return Verifier.from_settings(config, prefix="")
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"settings.AUTHGATE: {exc}") from None


def _forget_verifier(*, setting: str, **kwargs: object) -> None:
    if setting == "AUTHGATE" and configured_verifier.cache_info().currsize:
        configured_verifier().close()
        configured_verifier.cache_clear()


setting_changed.connect(_forget_verifier)


class TokenUser:
    """`request.user` for a valid token: Django's user interface, without a database row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, claims: AccessClaims) -> None:
        self.claims = claims
        self.pk = self.id = claims.subject
        self.username = self.email = claims.email

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class AuthgateMiddleware:
    """Reads the request's Bearer token, if it has one.

    Sets `request.authgate_claims` (None without a valid token) and, for a valid token,
    `request.user` to a TokenUser; place it after Django's AuthenticationMiddleware.
    Refusing is left to the views (`require_token`), so a public view still answers a
    request that carries an expired token.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        configured_verifier()  # a bad AUTHGATE setting stops startup, not a request

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            claims: AccessClaims | None = authenticate(request)
        except (NoCredentials, InvalidToken):
            claims = None
        # Django's idiom: middleware adds attributes to the request.
        request.authgate_claims = claims  # type: ignore[attr-defined]
        if claims is not None:
            request.user = TokenUser(claims)  # type: ignore[assignment]
        return self.get_response(request)


def authenticate(request: HttpRequest) -> AccessClaims:
    """The claims of the request's valid Bearer token.

    Raises:
        NoCredentials: no Bearer token.
        InvalidToken: a refused one; the subclass says why.
    """
    # META, not request.headers: that builds a dict of every header on first use.
    token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
    if token is None:
        raise NoCredentials
    return configured_verifier().verify(token)


def require_token(
    *,
    scopes: Iterable[str] = (),
    max_age: int | timedelta | None = None,
    require_amr: Iterable[str] = (),
) -> Callable[[View], View]:
    """Guard a view (sync or async): it runs only for a valid token with every one of `scopes`.

    `max_age` (seconds or a timedelta) and `require_amr` ask for a step-up: a sign-in
    (`auth_time`) at most that old, by every one of those methods (RFC 9470). The claims
    are on `request.authgate_claims` while the view runs.

    Raises:
        ValueError: a scope that is not an RFC 6749 scope-token, or a bad step-up option.
    """
    required = scope_set(scopes)
    step_up = StepUp.of(max_age=max_age, require_amr=require_amr)

    def admit(request: HttpRequest) -> HttpResponseBase | None:
        try:
            claims = authenticate(request)
        except (NoCredentials, InvalidToken) as exc:
            return _answer(Refusal.of(exc))
        refusal = refusal_for_scopes(claims, required)
        if refusal is None and step_up is not None:
            refusal = refusal_for_step_up(claims, step_up, now=configured_verifier().clock())
        if refusal is not None:
            return _answer(refusal)
        request.authgate_claims = claims  # type: ignore[attr-defined]
        return None

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def guarded_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refused = admit(request)
                return refused if refused is not None else await view(request, *args, **kwargs)

            return cast(View, guarded_async)

        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = admit(request)
            return refused if refused is not None else view(request, *args, **kwargs)

        return cast(View, guarded)

    return decorate


def _answer(refusal: Refusal) -> JsonResponse:
    return JsonResponse(
        refusal.body(), status=refusal.status, headers={"WWW-Authenticate": refusal.challenge}
    )
