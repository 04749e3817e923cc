"""Prints, as JSON, a token each app accepts: authgate's, PyJWT's, fastapi-users',
Flask-JWT-Extended's and simplejwt's, all RS256 with the run's key. The first call also
creates the peers' users (fastapi-users' and Django's SQLite databases).

    BENCH_ADAPTERS_DIR=... python bench/adapters/mint.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")


def main() -> None:
    import django

    django.setup()
    import fastapi_users_app
    import flask_jwt_app
    import material
    import pyjwt_app
    from django_site import simplejwt_views

    print(
        json.dumps(
            {
                "authgate": material.authgate_token(),
                "pyjwt": pyjwt_app.token(),
                "fastapi-users": asyncio.run(fastapi_users_app.token()),
                "flask-jwt-extended": flask_jwt_app.token(),
                "simplejwt": simplejwt_views.token(),
            }
        )
    )


if __name__ == "__main__":
    main()
