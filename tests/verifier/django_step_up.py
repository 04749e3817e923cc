"""Step-up views for Django and Django REST framework: this module is their URLconf.

`/plain` asks nothing beyond a valid token, `/recent` a sign-in within 300 seconds, `/otp`
a sign-in with a one-time password; `/api/…` are the same for DRF's TokenHasStepUp.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

importlib.import_module(f"{__package__}.django_site")  # Django is configured before its imports

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from authgate.verifier.django import require_token  # noqa: E402
from authgate.verifier.django.rest_framework import TokenHasStepUp  # noqa: E402


def _subject(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.authgate_claims.subject})  # type: ignore[attr-defined]


@require_token()
def plain(request: HttpRequest) -> JsonResponse:
    return _subject(request)


@require_token(max_age=300)
def recent(request: HttpRequest) -> JsonResponse:
    return _subject(request)


@require_token(require_amr=["otp"])
async def otp(request: HttpRequest) -> JsonResponse:
    return _subject(request)


class ApiPlain(APIView):
    permission_classes = (TokenHasStepUp,)

    def get(self, request: Request) -> Response:
        return Response({"sub": getattr(request.auth, "subject", None)})


class ApiRecent(ApiPlain):
    max_age = timedelta(seconds=300)


class ApiOtp(ApiPlain):
    require_amr = ("otp",)


urlpatterns = [
    path("plain", plain),
    path("recent", recent),
    path("otp", otp),
    path("api/plain", ApiPlain.as_view()),
    path("api/recent", ApiRecent.as_view()),
    path("api/otp", ApiOtp.as_view()),
]
