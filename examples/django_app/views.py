"""Views that need an authgate access token: by decorator, and by DRF's settings."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authgate.verifier.django import require_token


@require_token()
def things(request: HttpRequest) -> JsonResponse:
    claims = request.authgate_claims  # set by require_token (and the middleware)
    return JsonResponse({"owner": claims.subject, "email": claims.email, "things": ["a clock"]})


class ApiThings(APIView):
    """Authenticated by BearerAuthentication, as REST_FRAMEWORK in settings.py says."""

    def get(self, request: Request) -> Response:
        claims = request.auth  # the AccessClaims; request.user is a TokenUser
        return Response({"owner": claims.subject, "email": claims.email, "things": ["a map"]})
