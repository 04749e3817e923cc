"""authgate's Django adapters: DRF's BearerAuthentication, and plain Django's require_token."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authgate.verifier.django import require_token
from authgate.verifier.django.rest_framework import BearerAuthentication


class Open(APIView):
    authentication_classes = ()

    def get(self, request: Request) -> Response:
        return Response({"sub": "anonymous"})


class Guarded(APIView):
    authentication_classes = (BearerAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth.subject})


def plain_open(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": "anonymous"})


@require_token()
def plain_guarded(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.authgate_claims.subject})
