"""Flask with authgate's AuthGate extension: GET /open and GET /guarded (`@require_token()`).

BENCH_ADAPTERS_DIR=... gunicorn --chdir bench/adapters flask_app:app
"""

from __future__ import annotations

from flask import Flask, g
from material import verifier_settings

from authgate.verifier.flask import AuthGate, require_token

app = Flask(__name__)
app.config.update(verifier_settings())
AuthGate(app)


@app.get("/open")
def open_route() -> dict[str, str]:
    return {"sub": "anonymous"}


@app.get("/guarded")
@require_token()
def guarded() -> dict[str, str]:
    return {"sub": g.authgate_claims.subject}
