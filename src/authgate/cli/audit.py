"""`authgate audit`: the security events, newest first."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from authgate.cli.app import app, err, open_service, out
from authgate.errors import UnknownUser


@app.command()
def audit(
    user: Annotated[
        str | None, typer.Option(help="Only this user's events (by e-mail); else everyone's.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many events to show.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of a table.")
    ] = False,
) -> None:
    """Show the security audit log, newest first: sign-ins, failures, sign-outs, changes."""
    service = open_service()
    user_id = None
    if user is not None:
        try:
            user_id = service.find_user(user).id
        except UnknownUser:
            err.print(f"authgate: no user with the e-mail {user}", markup=False)
            raise typer.Exit(1) from None
    events, emails = service.audit_events(user_id=user_id, limit=limit)
    if as_json:
        for event in events:
            line = {
                "at": event.at.isoformat(),
                "kind": event.kind,
                "user_id": event.user_id,
                "email": emails[event.user_id] if event.user_id else None,
                "session_id": event.session_id,
                "ip": event.ip,
                "detail": dict(event.detail) if event.detail else None,
            }
            print(json.dumps(line))
        return
    if not events:
        out.print(f"no audit events{f' for {user}' if user else ''}", markup=False)
        return
    everyone = user is None
    table = Table(
        Column("time (UTC)", no_wrap=True),
        "event",
        *(["user"] if everyone else []),
        "session",
        "ip",
        Column("detail", overflow="fold"),
    )
    for event in events:
        cells = [
            f"{event.at:%Y-%m-%d %H:%M:%S}",
            event.kind,
            *([emails[event.user_id] if event.user_id else "-"] if everyone else []),
            event.session_id[:8] if event.session_id else "-",
            event.ip or "-",
            "\n".join(f"{k}={v}" for k, v in (event.detail or {}).items()) or "-",
        ]
        table.add_row(*(Text(cell) for cell in cells))  # Text: no markup from stored values
    out.print(table)
