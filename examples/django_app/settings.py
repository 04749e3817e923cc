"""Settings of the example: only what a token-protected JSON API needs (no database)."""

from __future__ import annotations

import os
import secrets

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True

MIDDLEWARE = ["authgate.verifier.django.AuthgateMiddleware"]

# The names of authgate.Verifier.from_settings: ISSUER, AUDIENCE, JWKS_URL, REDIS_URL, …
AUTHGATE = {
    "ISSUER": os.environ.get("AUTHGATE_ISSUER", "http://localhost:8000"),
    "AUDIENCE": os.environ.get("AUTHGATE_AUDIENCE", "authgate"),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "authgate.verifier.django.rest_framework.BearerAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,  # no django.contrib.auth: no AnonymousUser either
}
