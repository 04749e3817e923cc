"""`authgate mail list|show|retry`: the outbox, where mail waits for the sender.

Without AUTHGATE_SMTP_URL nothing is sent and every letter stays here: `mail show` prints
one with its links, so a developer can follow every flow on a laptop. Bodies are printed
plainly (no markup, no wrapping), so a link is copied whole.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from authgate.cli.app import app, err, open_service, out, when
from authgate.service import Service

mail_app = typer.Typer(
    help="The outbox: mail waiting to be sent, sent, or given up.", no_args_is_help=True
)
app.add_typer(mail_app, name="mail")

ERROR_WIDTH = 40  # characters of the last error a row of `mail list` shows


class MailState(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"


@mail_app.command("list")
def mail_list(
    state: Annotated[
        MailState | None, typer.Option(help="Only mail in this state.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many messages to show.")] = 50,
) -> None:
    """List the outbox, newest first."""
    service = open_service()
    envelopes = service.outbox(state=state.value if state else None, limit=limit)
    if not envelopes:
        out.print(f"no {state.value} mail in the outbox" if state else "the outbox is empty")
    else:
        # One line a message: the subject and the error give way first (`mail show` has all).
        table = Table(
            Column("id", no_wrap=True, min_width=8),
            Column("created (UTC)", no_wrap=True, min_width=16),
            Column("kind", min_width=7),
            Column("to", min_width=8),
            Column("subject", min_width=7),
            Column("state", no_wrap=True, min_width=7),
            Column("tries", no_wrap=True, min_width=5, justify="right"),
            Column("last error", min_width=5),
            box=box.SIMPLE_HEAD,
            show_edge=False,
            collapse_padding=True,
        )
        for envelope in envelopes:
            cells = [
                envelope.id[:8],
                f"{envelope.created_at:%Y-%m-%d %H:%M}",
                envelope.kind,
                envelope.recipient,
                envelope.subject,
                envelope.state,
                str(envelope.attempts),
                _shortened(envelope.last_error) if envelope.last_error else "-",
            ]
            # Text: no markup from stored values; one line, cut with "…" where narrow.
            table.add_row(*(Text(cell, no_wrap=True, overflow="ellipsis") for cell in cells))
        out.print(table)
    _say_where_mail_stays(service)


@mail_app.command("show")
def mail_show(
    mail_id: Annotated[str, typer.Argument(metavar="ID", help="The id, or its first characters.")],
) -> None:
    """Print one message: its headers and text, links whole."""
    service = open_service()
    envelope = service.find_mail(mail_id.strip())
    letter = service.open_mail(envelope)
    lines = [
        f"Id:         {envelope.id}",
        f"To:         {envelope.recipient}",
        f"Subject:    {envelope.subject}",
        f"Kind:       {envelope.kind}",
        f"State:      {envelope.state}",
        f"Attempts:   {envelope.attempts}",
        f"Created:    {when(envelope.created_at)}",
    ]
    if envelope.state in ("pending", "sending") and envelope.next_attempt_at:
        lines.append(f"Next try:   {when(envelope.next_attempt_at)}")
    if envelope.sent_at:
        lines.append(f"Sent:       {when(envelope.sent_at)}")
    if envelope.last_error:
        lines.append(f"Last error: {envelope.last_error}")
    # print(), not the rich console: a terminal's width must not break a link in two.
    print("\n".join(lines))
    print()
    print(letter.text.rstrip("\n") if letter else "delivered; its body was erased")


@mail_app.command("retry")
def mail_retry(
    mail_id: Annotated[str, typer.Argument(metavar="ID", help="The id, or its first characters.")],
) -> None:
    """Send a dead (or waiting) message again, now, with its attempts counted from zero."""
    service = open_service()
    envelope = service.find_mail(mail_id.strip())
    if not service.retry_mail(envelope.id):
        why = {
            "sent": "it was delivered already",
            "sending": "a sender is delivering it right now",
        }.get(envelope.state, f"it is {envelope.state}")
        err.print(f"authgate: cannot retry {envelope.id[:8]}: {why}", markup=False)
        raise typer.Exit(1)
    out.print(
        f"{envelope.id[:8]} to {envelope.recipient} is due again: the sender takes it next",
        markup=False,
    )
    _say_where_mail_stays(service)


def _say_where_mail_stays(service: Service) -> None:
    if service.settings.smtp_url is None:
        out.print(
            "AUTHGATE_SMTP_URL is not set: mail is not sent but stays here; "
            "read a message, links and all, with `authgate mail show ID`",
            markup=False,
            soft_wrap=True,
        )


def _shortened(error: str) -> str:
    line = " ".join(error.split())
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"
