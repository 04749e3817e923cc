"""What bench/http/run.py measures: its constants, and every server and reference it runs.

A subject is a server started fresh for each round (the Express tutorial, its KeyObject
variant, the naive FastAPI port, a plain FastAPI app, authgate and its variants) or a
reference measured without HTTP (argon2-cffi alone, and authgate's in-process costs).
Each names the steps run.py takes with it, in order.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import tool

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "http"
EXPRESS_DIR = ROOT / "bench" / "peers" / "express"
NAIVE_APP = ROOT / "bench" / "peers" / "naive_fastapi.py"
PLAIN_APP = ROOT / "bench" / "peers" / "plain_fastapi.py"
INPROCESS = HERE / "inprocess.py"
RESULTS = ROOT / "bench" / "results"

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
GENEROUS = "100000000/minute"
CHAINS = 16  # POST /token: one connection, one wrk thread and one refresh-token chain each
FLOOD = 16  # concurrent sign-ins during the flood
SESSIONS = 3  # sessions of the user whose token reads /test, /me and /sessions
SETTLE = 2.0  # seconds between scenarios, for queued work (e.g. hashing) to drain
START_TIMEOUT = 60.0
# Seconds one run may spend in all waiting for a quieter machine: on a busy machine that is
# where the time goes (about 18 min of measuring at --rounds 3 --duration 10, plus this).
QUIET_BUDGET = 120.0
OWASP_ARGON2 = "m=19456,t=2,p=1"
COST_SECONDS = 2.0  # in-process costs: seconds of rotations per database
NAN = math.nan

# The steps, in the order run.py takes them. GET routes run `wrk -t2 -c64`; "me" and
# "sessions" come before the sign-in flood, which adds sessions by the hundred.
TUTORIAL_STEPS = ("test", "flood", "signin", "token")
AUTHGATE_STEPS = ("test", "me", "sessions", "flood", "signin", "token")
GET_PATHS = {"test": "/test", "me": "/me", "sessions": "/sessions", "constant": "/constant"}


@dataclass(frozen=True)
class Server:
    key: str
    label: str
    kind: str  # "express", "naive", "plain", "authgate"; "argon2", "costs": no server
    steps: tuple[str, ...] = TUTORIAL_STEPS
    keyobject: bool = False
    workers: int = 1
    postgresql: bool = False  # authgate: a fresh PostgreSQL database, else a SQLite file
    algorithm: str = "RS256"  # authgate: AUTHGATE_ALGORITHM

    @property
    def http(self) -> bool:
        return self.kind not in ("argon2", "costs")

    @property
    def tutorial(self) -> bool:
        """The peers answer with the tutorial's keys and take its {"token"} body."""
        return self.kind in ("express", "naive")

    @property
    def access_key(self) -> str:
        return "accessToken" if self.tutorial else "access_token"

    @property
    def refresh_key(self) -> str:
        return "refreshToken" if self.tutorial else "refresh_token"

    @property
    def refresh_body_key(self) -> str:
        return "token" if self.tutorial else "refresh_token"

    @property
    def rotates(self) -> bool:
        return self.kind == "authgate"

    @property
    def ready_path(self) -> str:
        """Any answer to it (401 without a token) means the server is up."""
        return "/constant" if self.kind == "plain" else "/test"

    def launch(
        self, port: int, folder: Path, database_url: str | None = None
    ) -> tuple[list[str], dict[str, str], Path]:
        """The command, environment and working directory that start this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env.pop("NODE_ENV", None)
        tutorial = {
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "ACCESS_TOKEN_SECRET": secrets.token_hex(32),
            "REFRESH_TOKEN_SECRET": secrets.token_hex(32),
        }
        if self.kind == "express":
            env.update(tutorial, KEYOBJECT="1" if self.keyobject else "0")
            return [tool("node"), "server.js"], env, EXPRESS_DIR
        if self.kind == "naive":
            env.update(tutorial)
            return [sys.executable, str(NAIVE_APP)], env, folder
        if self.kind == "plain":
            env.update(PORT=str(port), HOST="127.0.0.1")
            return [sys.executable, str(PLAIN_APP)], env, folder
        env.update(
            AUTHGATE_DATABASE_URL=database_url or f"sqlite:///{folder / 'authgate.db'}",
            AUTHGATE_ALGORITHM=self.algorithm,
            AUTHGATE_THROTTLE_SIGN_UP=GENEROUS,
            AUTHGATE_THROTTLE_SIGN_IN_IP=GENEROUS,
            AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT=GENEROUS,
            AUTHGATE_THROTTLE_TOKEN=GENEROUS,
        )
        command = [sys.executable, "-m", "authgate", "serve", "--host", "127.0.0.1"]
        return [*command, "--port", str(port), "--workers", str(self.workers)], env, folder


PEERS = (
    Server("express", "Express (string secret)", "express"),
    Server("express-keyobject", "Express (KeyObject)", "express", keyobject=True),
    Server("naive", "naive FastAPI + PyJWT", "naive"),
)
PLAIN = Server("plain", "plain FastAPI, unguarded constant", "plain", steps=("constant",))
AUTHGATE = Server("authgate", "authgate", "authgate", steps=AUTHGATE_STEPS)
POSTGRESQL = Server(
    "authgate-postgresql",
    "authgate on PostgreSQL",
    "authgate",
    steps=("test", "me", "sessions", "token"),
    postgresql=True,
)
ES256 = Server("authgate-es256", "authgate, ES256", "authgate", steps=("token",), algorithm="ES256")
EDDSA = Server("authgate-eddsa", "authgate, EdDSA", "authgate", steps=("token",), algorithm="EdDSA")
ARGON2 = Server("argon2", "argon2-cffi alone", "argon2", steps=("ceiling",))
COSTS = Server("costs", "authgate in-process", "costs", steps=("costs",))
ALL_SERVERS = (*PEERS, PLAIN, AUTHGATE, POSTGRESQL, ES256, EDDSA, ARGON2, COSTS)


def multi_worker(workers: int) -> Server:
    return Server(
        "authgate-workers",
        f"authgate ({workers} workers)",
        "authgate",
        steps=TUTORIAL_STEPS,
        workers=workers,
    )
