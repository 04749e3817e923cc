"""Peer: Flask-JWT-Extended's `@jwt_required()`, RS256 (JWT_ALGORITHM, JWT_PUBLIC_KEY).

It verifies the signature, `exp` and the token's `type` claim (access, not refresh) with
PyJWT. No user is loaded (no user_lookup_loader) and nothing is revoked: the extension's
blocklist is a callback the app would have to write and back with a store.

    BENCH_ADAPTERS_DIR=... gunicorn --chdir bench/adapters flask_jwt_app:app
"""

from __future__ import annotations

from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity, jwt_required
from material import SUBJECT, TOKEN_LIFETIME, private_pem, public_pem

app = Flask(__name__)
app.config.update(
    JWT_ALGORITHM="RS256",
    JWT_PRIVATE_KEY=private_pem(),
    JWT_PUBLIC_KEY=public_pem(),
    JWT_ACCESS_TOKEN_EXPIRES=TOKEN_LIFETIME,
)
JWTManager(app)


@app.get("/open")
def open_route() -> dict[str, str]:
    return {"sub": "anonymous"}


@app.get("/guarded")
@jwt_required()
def guarded() -> dict[str, str]:
    return {"sub": get_jwt_identity()}


def token() -> str:
    with app.app_context():
        return create_access_token(identity=SUBJECT)
