"""`authgate keys list|rotate|jwks`: the signing keys."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from authgate.cli.app import app, open_service, out, when

keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("list")
def keys_list() -> None:
    """List the stored signing keys: which one signs, which is next, which still verify."""
    table = Table("kid", "alg", "created", "signs from", "retires", "state")
    for key in open_service().list_keys():
        table.add_row(
            key.kid,
            key.alg,
            when(key.created_at) if key.created_at else "-",
            when(key.signs_from) if key.signs_from else "-",
            when(key.retired_at) if key.retired_at else "-",
            key.state,
        )
    out.print(table)


@keys_app.command("rotate")
def keys_rotate(
    delay: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Seconds between publishing the new key and signing with it "
            "(default AUTHGATE_KEY_ROTATION_DELAY).",
        ),
    ] = None,
) -> None:
    """Publish a new signing key now, sign with it after a delay, retire the old one later.

    Running servers follow on their own: no restart, no failed request.
    """
    rotation = open_service().rotate_keys(None if delay is None else timedelta(seconds=delay))
    out.print(f"published {rotation.alg} key {rotation.kid}")
    out.print(f"signs from   {when(rotation.activates_at)}")
    out.print(f"old keys retire at {when(rotation.retires_old_at)}")


@keys_app.command("jwks")
def keys_jwks() -> None:
    """Print the public JWK Set, as served at /.well-known/jwks.json."""
    print(json.dumps(open_service().jwks(), indent=2))
