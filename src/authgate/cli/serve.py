"""`authgate serve` and `authgate secret`: run the server, make a secret."""

from __future__ import annotations

import os
import secrets
import sys
from typing import Annotated

import typer

from authgate.cli.app import SHUTDOWN_GRACE, app, err, read_settings
from authgate.errors import ConfigurationError
from authgate.service import Service


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (costs about a quarter of the throughput).")
    ] = False,
) -> None:
    """Run the HTTP server (uvicorn)."""
    settings = read_settings()
    if workers > 1 and settings.redis_url is None:
        raise ConfigurationError(
            "--workers above 1 needs AUTHGATE_REDIS_URL: without it each worker counts "
            "throttled attempts on its own, and an attacker gets that many more tries"
        )
    # Open once here so a bad setting, key or schema stops startup with a clear message,
    # and so workers never race to create the schema or the first signing key.
    opened = Service(settings)
    opened.close()
    for warning in opened.warnings:
        err.print(f"[bold red]authgate: WARNING:[/] {warning}", markup=True)
    if "FORWARDED_ALLOW_IPS" in os.environ:
        err.print(
            "authgate: FORWARDED_ALLOW_IPS is ignored; name trusted proxies in "
            "AUTHGATE_TRUSTED_PROXIES"
        )
    err.print(f"authgate listening on http://{host}:{port} ({workers} worker(s)); docs at /docs")
    sys.stderr.flush()
    # Become the server process (same PID, for supervisors and signals), leaving this
    # command's imports behind: the server starts about 24 MiB smaller than in-process.
    # uvicorn's own proxy-header handling is off: it trusts X-Forwarded-For from
    # 127.0.0.1 (or $FORWARDED_ALLOW_IPS) by default; the app applies
    # AUTHGATE_TRUSTED_PROXIES itself. The protocol bounds request heads (web/server.py),
    # and a stop waits at most SHUTDOWN_GRACE seconds for requests in flight.
    args = [
        sys.executable, "-m", "uvicorn", "authgate.web.app:app_from_env", "--factory",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--http", "authgate.web.server:BoundedHttpToolsProtocol", "--no-proxy-headers",
        "--timeout-graceful-shutdown", str(SHUTDOWN_GRACE),
        "--no-server-header", "--access-log" if access_log else "--no-access-log",
    ]  # fmt: skip
    os.execv(sys.executable, args)  # noqa: S606 - our own interpreter, fixed arguments


@app.command()
def secret() -> None:
    """Print a new random secret (256 bits) for AUTHGATE_SECRET or AUTHGATE_KEY_ENCRYPTION_KEY."""
    print(secrets.token_urlsafe(32))
