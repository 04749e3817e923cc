"""`authgate sessions end-all`: sign everyone out, e.g. after a suspected breach."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.cli.app import app, err, open_service, out

sessions_app = typer.Typer(help="Sessions of every user.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")


@sessions_app.command("end-all")
def sessions_end_all(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """End every session of every user (audited), e.g. after a suspected breach.

    Everyone must sign in again; running servers refuse the access tokens within a second.
    """
    if not yes and not typer.confirm("End every session of every user?"):
        err.print("nothing was ended", markup=False)
        raise typer.Exit(1)
    ended = open_service().end_all_sessions()
    out.print(f"ended {ended} session(s)", markup=False)
