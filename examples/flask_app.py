"""A Flask app whose /things route needs an authgate access token.

AUTHGATE_ISSUER=http://localhost:8000 flask --app examples/flask_app.py run --port 8003
"""

from __future__ import annotations

import os

from flask import Flask, g

from authgate.verifier.flask import AuthGate, require_token

app = Flask(__name__)
# AuthGate reads AUTHGATE_ISSUER, AUTHGATE_AUDIENCE, … from the app's config.
app.config.update(
    {name: value for name, value in os.environ.items() if name.startswith("AUTHGATE_")}
)
app.config.setdefault("AUTHGATE_ISSUER", "http://localhost:8000")
AuthGate(app)


@app.get("/things")
@require_token()
def things() -> dict[str, object]:
    claims = g.authgate_claims
    return {"owner": claims.subject, "email": claims.email, "things": ["a kettle"]}


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8003")))
