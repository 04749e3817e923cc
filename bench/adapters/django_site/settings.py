"""One Django project for every Django app measured: authgate's DRF and plain-Django guards,
and simplejwt's two DRF authentication classes, each on its own URL (urls.py).

Django's startproject middleware and apps (less admin and static files), DRF answering
JSON only, and persistent database connections (CONN_MAX_AGE), which spares simplejwt's
per-request user lookup a new SQLite connection: the stronger form of that peer.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from material import AUDIENCE, TOKEN_LIFETIME, folder, private_pem, public_pem, verifier_settings

SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "django_site.urls"
WSGI_APPLICATION = "django_site.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(folder() / "django.db"),
        "CONN_MAX_AGE": None,
    }
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],  # each view names its own
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

# authgate: Verifier.from_settings' names without the prefix.
AUTHGATE = {name.removeprefix("AUTHGATE_"): value for name, value in verifier_settings().items()}

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": private_pem(),
    "VERIFYING_KEY": public_pem(),
    "AUDIENCE": AUDIENCE,
    "ACCESS_TOKEN_LIFETIME": TOKEN_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
}
