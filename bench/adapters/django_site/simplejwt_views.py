"""Peer: djangorestframework-simplejwt's JWTAuthentication (loads the user row per request)
and JWTStatelessUserAuthentication (a TokenUser from the claims, no database)."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import (
    JWTAuthentication,
    JWTStatelessUserAuthentication,
)


class Guarded(APIView):
    authentication_classes = (JWTAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"sub": str(request.user.pk)})


class Stateless(APIView):
    authentication_classes = (JWTStatelessUserAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"sub": str(request.user.id)})


def token() -> str:
    """Create the database and its one user (first call only); an access token for it."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from material import EMAIL, PASSWORD
    from rest_framework_simplejwt.tokens import AccessToken

    call_command("migrate", verbosity=0)
    users = get_user_model()
    user = users.objects.filter(username="bench").first()
    if user is None:
        user = users.objects.create_user("bench", EMAIL, PASSWORD)
    return str(AccessToken.for_user(user))
