"""A Django project for the adapter tests, configured on import: settings, views and URLs.

Django is configured once per process, so this module is its settings and its URLconf; the
tests point settings.AUTHGATE at a server or at static keys with override_settings.
"""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        MIDDLEWARE=["authgate.verifier.django.AuthgateMiddleware"],
        AUTHGATE={"ISSUER": "http://127.0.0.1:9", "KEYS": {"keys": []}},
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "authgate.verifier.django.rest_framework.BearerAuthentication",
            ],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "UNAUTHENTICATED_USER": None,
        },
    )
    django.setup()

# Imported once settings exist: Django's and DRF's modules read them on import.
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authgate.verifier.django import require_token
from authgate.verifier.django.rest_framework import TokenHasScope


def described(claims: object, user: object) -> dict[str, object]:
    return {
        "sub": getattr(claims, "subject", None),
        "email": getattr(claims, "email", None),
        "scopes": sorted(getattr(claims, "scopes", ())),
        "user": str(user),
    }


@require_token()
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(described(request.authgate_claims, request.user))  # type: ignore[attr-defined]


@require_token(scopes=["read:things"])
def things(request: HttpRequest) -> JsonResponse:
    return JsonResponse(described(request.authgate_claims, request.user))  # type: ignore[attr-defined]


@require_token()
async def me_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse(described(request.authgate_claims, None))  # type: ignore[attr-defined]


def public(request: HttpRequest) -> JsonResponse:
    """No guard: the middleware's view of the request (no contrib.auth: no other user)."""
    claims = request.authgate_claims  # type: ignore[attr-defined]
    user = getattr(request, "user", None)
    return JsonResponse({"claims": claims is not None, "user": type(user).__name__})


class ApiMe(APIView):
    def get(self, request: Request) -> Response:
        return Response(described(request.auth, request.user))


class ApiThings(APIView):
    permission_classes = (TokenHasScope,)
    required_scopes = ("read:things",)

    def get(self, request: Request) -> Response:
        return Response(described(request.auth, request.user))


urlpatterns = [
    path("me", me),
    path("things", things),
    path("me-async", me_async),
    path("public", public),
    path("api/me", ApiMe.as_view()),
    path("api/things", ApiThings.as_view()),
]
