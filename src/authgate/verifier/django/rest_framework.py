"""Django REST framework: authentication by authgate Bearer token, and a scope permission.

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "authgate.verifier.django.rest_framework.BearerAuthentication",
        ],
    }

    class Things(APIView):
        permission_classes = [TokenHasScope]
        required_scopes = ["read:things"]

    class Payouts(APIView):
        permission_classes = [TokenHasStepUp]
        max_age = 300                  # seconds or a timedelta
        require_amr = ["otp"]

`request.user` is a TokenUser and `request.auth` the AccessClaims. DRF answers 401 with
`WWW-Authenticate: Bearer` (no token) or `Bearer error="invalid_token"`; TokenHasScope
answers 403 with `Bearer error="insufficient_scope", scope="…"`, and TokenHasStepUp 401
with `Bearer error="insufficient_user_authentication", …` (RFC 9470). The Verifier is the
one settings.AUTHGATE describes (see `authgate.verifier.django`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken
from authgate.verifier import StepUp
from authgate.verifier.bearer import (
    Refusal,
    bearer_token,
    refusal_for_scopes,
    refusal_for_step_up,
    scope_set,
)
from authgate.verifier.django import TokenUser, configured_verifier

if TYPE_CHECKING:
    # Not at run time: rest_framework.views imports the classes named in REST_FRAMEWORK,
    # this module among them, while it is itself being imported.
    from rest_framework.views import APIView


class BearerAuthentication(BaseAuthentication):
    """Authenticates a request by its authgate Bearer token; without one, it passes."""

    def authenticate(self, request: Request) -> tuple[TokenUser, AccessClaims] | None:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None  # another authentication class may know the request
        try:
            claims = configured_verifier().verify(token)
        except InvalidToken as exc:
            raise AuthenticationFailed(exc.detail, code=exc.code) from None
        return TokenUser(claims), claims

    def authenticate_header(self, request: Request) -> str:
        """The challenge of DRF's 401: a presented token was refused, or none came."""
        if bearer_token(request.META.get("HTTP_AUTHORIZATION")) is None:
            return "Bearer"
        return Refusal.of(InvalidToken()).challenge


class InsufficientScope(PermissionDenied):
    """403 with `WWW-Authenticate: Bearer error="insufficient_scope"`, which DRF sends."""

    default_code = "insufficient_scope"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail, code=refusal.error)
        self.auth_header = refusal.challenge  # DRF's exception handler sends it


class TokenHasScope(BasePermission):
    """Admits a request whose authgate token has every scope in the view's `required_scopes`."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        claims = request.auth
        if not isinstance(claims, AccessClaims):
            return False  # no token: DRF answers 401 with the authentication's challenge
        refusal = refusal_for_scopes(claims, scope_set(getattr(view, "required_scopes", ())))
        if refusal is not None:
            raise InsufficientScope(refusal)
        return True


class InsufficientUserAuthentication(APIException):
    """401 with `WWW-Authenticate: Bearer error="insufficient_user_authentication"`.

    Not an AuthenticationFailed: DRF would replace its challenge with the authentication
    class's.
    """

    status_code = 401
    default_code = "insufficient_user_authentication"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail, code=refusal.error)
        self.auth_header = refusal.challenge  # DRF's exception handler sends it


class TokenHasStepUp(BasePermission):
    """Admits a request whose authgate token meets the view's step-up (RFC 9470).

    The view's `max_age` (seconds or a timedelta) bounds the age of the sign-in behind the
    token (`auth_time`), and its `require_amr` lists methods it must have used (`amr`).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        claims = request.auth
        if not isinstance(claims, AccessClaims):
            return False  # no token: DRF answers 401 with the authentication's challenge
        step_up = StepUp.of(
            max_age=getattr(view, "max_age", None), require_amr=getattr(view, "require_amr", ())
        )
        if step_up is None:
            return True
        refusal = refusal_for_step_up(claims, step_up, now=configured_verifier().clock())
        if refusal is not None:
            raise InsufficientUserAuthentication(refusal)
        return True
