"""`authgate users …`: create, list, disable, enable, sign out, set passwords, verify
addresses, hand out reset links, and import from MongoDB."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from authgate.cli.app import app, err, open_service, out, read_password, when
from authgate.core.clock import utc_now
from authgate.core.mongo_import import BATCH_SIZE, Problem, Tally
from authgate.core.store import UserId

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
PasswordFromStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@users_app.command("create")
def users_create(
    email: str,
    password_stdin: PasswordFromStdin = False,
) -> None:
    """Create a user; the password is prompted for unless --password-stdin is given."""
    user = open_service().sign_up(email, read_password(password_stdin))
    out.print(f"created {user.email} ({user.id})")


@users_app.command("set-password")
def users_set_password(
    email: str,
    password_stdin: PasswordFromStdin = False,
) -> None:
    """Set a user's password and end all its sessions."""
    service = open_service()
    user = service.find_user(email)
    ended = service.change_password(user.id, read_password(password_stdin))
    out.print(f"changed the password of {user.email}; ended {ended} session(s)")


@users_app.command("list")
def users_list(
    limit: Annotated[int, typer.Option(min=1, help="How many users to show.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip.")] = 0,
) -> None:
    """List users, oldest first."""
    table = Table("id", "email", "created", "status")
    for user in open_service().list_users(limit=limit, offset=offset):
        status = "disabled" if user.disabled_at else "active"
        table.add_row(user.id, user.email, when(user.created_at), status)
    out.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a user and end all its sessions (running servers notice within a second)."""
    service = open_service()
    user = service.find_user(email)
    ended = service.disable_user(UserId(user.id))
    out.print(f"disabled {user.email}; ended {ended} session(s)")


@users_app.command("sign-out")
def users_sign_out(email: str) -> None:
    """End every session of a user (audited); running servers notice within a second.

    The password still signs in: `users disable` keeps the user out.
    """
    service = open_service()
    user = service.find_user(email)
    ended = service.sign_out_user(user.id)
    out.print(f"signed {user.email} out; ended {ended} session(s)", markup=False)


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Let a disabled user sign in again."""
    service = open_service()
    user = service.find_user(email)
    service.enable_user(user.id)
    out.print(f"enabled {user.email}")


@users_app.command("verify")
def users_verify(email: str) -> None:
    """Mark a user's e-mail address verified, as its link would (audited)."""
    service = open_service()
    user = service.find_user(email)
    if user.email_verified_at is not None:
        out.print(
            f"{user.email} was verified already, {when(user.email_verified_at)}", markup=False
        )
        return
    service.mark_verified(user.id)
    out.print(f"marked {user.email} verified", markup=False)


@users_app.command("reset-link")
def users_reset_link(email: str) -> None:
    """Print a one-time password-reset link for a support desk to hand over (audited).

    Hand it to the account's owner only: whoever opens it chooses the password.
    """
    service = open_service()
    user = service.find_user(email)
    link = service.reset_link(user.id)
    expires = when(utc_now() + service.settings.reset_link_ttl)
    # print(), not the rich console: a terminal's width must not break the link in two.
    print(link)
    out.print(
        f"works once, until {expires} (AUTHGATE_RESET_LINK_TTL); "
        f"setting a password with it signs {user.email} out everywhere",
        markup=False,
        soft_wrap=True,
    )
    if user.disabled_at is not None:
        err.print(
            f"note: {user.email} is disabled; it cannot sign in until `authgate users enable`",
            markup=False,
            soft_wrap=True,
        )


@users_app.command("mfa")
def users_mfa(email: str) -> None:
    """Show the second factors an account has."""
    service = open_service()
    user = service.find_user(email)
    methods, codes_left = service.second_factors(user.id)
    if not methods:
        out.print(f"{user.email} has no second factor", markup=False)
        return
    if "totp" in methods:
        out.print(f"{user.email}: authenticator app (TOTP)", markup=False)
        out.print(f"recovery codes left: {codes_left} of 10", markup=False)
    if "passkey" in methods:
        names = ", ".join(passkey.name for passkey in service.passkeys(user.id))
        out.print(f"{user.email}: passkeys ({names})", markup=False)


@users_app.command("mfa-reset")
def users_mfa_reset(email: str) -> None:
    """Remove every second factor of an account, for a support desk (audited, mailed).

    Check who is asking first: this lets a password alone sign in to the account again.
    """
    service = open_service()
    user = service.find_user(email)
    if not service.reset_second_factors(user.id):
        out.print(f"{user.email} has no second factor to remove", markup=False)
        return
    out.print(
        f"removed every second factor of {user.email}; a notice was mailed to it", markup=False
    )


@users_app.command("import")
def users_import(
    file: Annotated[
        str,
        typer.Argument(
            help="mongoexport output, JSON lines or --jsonArray; - reads standard input."
        ),
    ],
    report: Annotated[
        Path | None,
        typer.Option(dir_okay=False, writable=True, help="Write every problem as JSON lines."),
    ] = None,
    show: Annotated[int, typer.Option(min=0, help="How many problems to print.")] = 20,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Users stored per transaction.")
    ] = BATCH_SIZE,
) -> None:
    """Import users from a mongoexport of the Node tutorial's users collection.

    Each user keeps its bcrypt hash: the old password signs in, then is rehashed to argon2id.

    Safe to run again: users imported before are counted as already present.
    """
    where = "standard input" if file == "-" else file
    try:
        opened = _input(file)
    except OSError as exc:
        err.print(f"authgate: cannot read {where}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    with (
        opened as stream,
        report.open("w", encoding="utf-8") if report else contextlib.nullcontext() as written,
        _progress_bar(_size(stream)) as on_batch,
    ):
        problems = _Problems(keep=show, report=written)
        service = open_service()
        tally = service.import_users(
            stream,
            source=where,
            batch_size=batch_size,
            on_problem=problems.add,
            on_batch=on_batch,
        )
    if tally.documents == 0:
        problems.print(tally)
        why = "it is empty"
        if tally.records:
            why = f"none of its {tally.records:,} records is a JSON object"
        err.print(f"authgate: nothing could be read from {where}: {why}", markup=False)
        raise typer.Exit(1)
    out.print(f"read {tally.records:,} records from {where} ({tally.format})", markup=False)
    width = len(f"{tally.records:,}")
    for label, count in (
        ("imported", tally.imported),
        ("already present", tally.already_present),
        ("duplicates", tally.duplicates),
        ("invalid", tally.invalid),
    ):
        out.print(f"  {label:<16}{count:>{width},}")
    problems.print(tally)
    if report is not None:
        out.print(f"all {problems.count:,} problems written to {report}", markup=False)


def _input(file: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """The file to read, or standard input for "-". Raises OSError."""
    if file == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(file, "rb")


class _Problems:
    """An import's problems: the first few kept to print, every one written to the report."""

    def __init__(self, *, keep: int, report: TextIO | None) -> None:
        self.keep = keep
        self.report = report
        self.shown: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.shown) < self.keep:
            self.shown.append(problem)
        if self.report is not None:
            self.report.write(json.dumps(problem.to_json()) + "\n")

    def print(self, tally: Tally) -> None:
        if not self.shown:
            return
        first = "first " if len(self.shown) < self.count else ""
        out.print(f"{first}{len(self.shown):,} of {self.count:,} problems:")
        for problem in self.shown:
            where = f"line {problem.line}"
            if tally.format == "JSON array":
                where = f"record {problem.record} ({where})"
            about = f"{problem.email}: " if problem.email else ""
            line = f"  {where}: {problem.kind}: {about}{problem.reason}"
            out.print(line, markup=False, soft_wrap=True)


@contextlib.contextmanager
def _progress_bar(total: int | None) -> Iterator[Callable[[Tally], None]]:
    """A progress bar on stderr (when it is a terminal); yields what updates it."""
    with Progress(
        TextColumn("importing users"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=total, records=0)
        yield lambda tally: progress.update(task, completed=tally.bytes_read, records=tally.records)


def _size(stream: BinaryIO) -> int | None:
    """The file's size, for the progress bar; None for a pipe."""
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None
