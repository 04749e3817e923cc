"""`authgate token inspect`: verify a token and explain it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from authgate.cli.app import app, err, open_service, out, when
from authgate.errors import InvalidToken

token_app = typer.Typer(help="Access tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("inspect")
def token_inspect(token: str) -> None:
    """Verify an access token and explain it: header, claims with times, and the verdict."""
    try:
        parts = extract_compact(token.strip().encode())
        header, payload = parts.headers(), json.loads(parts.payload)
    except (JoseError, ValueError, UnicodeError):
        err.print("not a JWS compact token (three base64url segments with a JSON header)")
        raise typer.Exit(1) from None
    out.print("[bold]header[/bold]")
    out.print_json(json.dumps(header))
    out.print("[bold]claims[/bold]")
    out.print_json(json.dumps(payload))
    if isinstance(payload, dict):
        for claim in ("iat", "nbf", "exp"):
            value = payload.get(claim)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.print(f"  {claim}: {when(datetime.fromtimestamp(value, UTC))}")
        iat, exp = payload.get("iat"), payload.get("exp")
        if isinstance(iat, int | float) and isinstance(exp, int | float):
            out.print(f"  lifetime (exp - iat): {exp - iat} s")
    service = open_service()
    try:
        service.read(token.strip())
    except InvalidToken as exc:
        out.print(f"[red]refused[/red] ({type(exc).__name__}): {exc}")
        raise typer.Exit(1) from None
    out.print(
        "[green]valid[/green]: a known key signed it; it is in its time window and meant for us"
    )
