"""The `authgate` command: serve, secret, keys, users, token, db."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column, Table
from rich.text import Text

from authgate.core.store import UserId
from authgate.errors import AuthgateError, ConfigurationError, InvalidToken, UnknownUser
from authgate.mongo_export import BATCH_SIZE, Problem, Tally, import_users
from authgate.service import Service
from authgate.settings import Settings
from authgate.storage.schema import schema_state, upgrade
from authgate.storage.sql import SqlStore
from authgate.storage.tables import create_database_engine

app = typer.Typer(
    help="authgate: JWT authentication service. Settings come from AUTHGATE_* variables and .env.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Access tokens.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status instead of exiting."""
    command = typer.main.get_command(app)
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        # standalone mode: click prints usage errors itself and exits with its own codes.
        command.main(args=args, prog_name="authgate", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ConfigurationError as exc:
        err.print(f"authgate: configuration error: {exc}", markup=False)
        return 2
    except AuthgateError as exc:
        err.print(f"authgate: {exc}", markup=False)
        return 1
    finally:
        while _opened:
            _opened.pop().close()
    return 0


def _settings() -> Settings:
    return Settings.from_env(os.environ)


_opened: list[Service] = []
SHUTDOWN_GRACE = 10  # seconds `serve` gives requests in flight after SIGTERM or Ctrl-C


def _service() -> Service:
    """The service for this command; main() closes it (and its database pool) at the end."""
    service = Service(_settings())
    _opened.append(service)
    return service


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
    settings = _settings()
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


@keys_app.command("list")
def keys_list() -> None:
    """List the stored signing keys: which one signs, which is next, which still verify."""
    service = _service()
    now = service.clock()
    signing = service.keys.signing.kid
    table = Table("kid", "alg", "created", "signs from", "retires", "state")
    for key in service.store.signing_keys():
        if key.retired_at is not None and key.retired_at <= now:
            state = "retired"
        elif key.kid == signing:
            state = "signing"
        elif key.signs_from > now:
            state = "next"
        else:
            state = "verifying"
        retires = _when(key.retired_at) if key.retired_at else "-"
        table.add_row(
            key.kid, key.alg, _when(key.created_at), _when(key.signs_from), retires, state
        )
    if service.keychain.symmetric:
        table.add_row(signing, service.keys.signing.alg, "-", "-", "-", "signing (secret)")
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
    rotation = _service().rotate_keys(None if delay is None else timedelta(seconds=delay))
    out.print(f"published {rotation.alg} key {rotation.kid}")
    out.print(f"signs from   {_when(rotation.activates_at)}")
    out.print(f"old keys retire at {_when(rotation.retires_old_at)}")


@keys_app.command("jwks")
def keys_jwks() -> None:
    """Print the public JWK Set, as served at /.well-known/jwks.json."""
    print(json.dumps(_service().keys.jwks(), indent=2))


@users_app.command("create")
def users_create(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for unless --password-stdin is given."""
    user = _service().accounts.sign_up(email, _read_password(password_stdin))
    out.print(f"created {user.email} ({user.id})")


@users_app.command("set-password")
def users_set_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password and end all its sessions."""
    service = _service()
    user = service.accounts.find(email)
    ended = service.change_password(user.id, _read_password(password_stdin))
    out.print(f"changed the password of {user.email}; ended {ended} session(s)")


@users_app.command("list")
def users_list(
    limit: Annotated[int, typer.Option(min=1, help="How many users to show.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip.")] = 0,
) -> None:
    """List users, oldest first."""
    table = Table("id", "email", "created", "status")
    for user in _service().live_users(limit=limit, offset=offset):
        status = "disabled" if user.disabled_at else "active"
        table.add_row(user.id, user.email, _when(user.created_at), status)
    out.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a user and end all its sessions (running servers notice within a second)."""
    service = _service()
    user = service.accounts.find(email)
    ended = service.disable_user(UserId(user.id))
    out.print(f"disabled {user.email}; ended {ended} session(s)")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Let a disabled user sign in again."""
    service = _service()
    user = service.accounts.find(email)
    service.accounts.set_disabled(user.id, False)
    out.print(f"enabled {user.email}")


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
        service = _service()
        tally = import_users(
            stream,
            service.store,
            clock=service.clock,
            audit=service.store,
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
    service = _service()
    user_id = None
    if user is not None:
        try:
            user_id = service.accounts.find(user).id
        except UnknownUser:
            err.print(f"authgate: no user with the e-mail {user}", markup=False)
            raise typer.Exit(1) from None
    events = service.store.audit_events(user_id=user_id, limit=limit)
    ids = {event.user_id for event in events if event.user_id is not None}
    emails = {user_id: _email_of(service, user_id) for user_id in ids}
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


def _email_of(service: Service, user_id: UserId) -> str:
    """The user's e-mail, or the id itself if the user is gone."""
    found = service.store.user_by_id(user_id)
    return found.email if found else user_id


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
                out.print(f"  {claim}: {_when(datetime.fromtimestamp(value, UTC))}")
        iat, exp = payload.get("iat"), payload.get("exp")
        if isinstance(iat, int | float) and isinstance(exp, int | float):
            out.print(f"  lifetime (exp - iat): {exp - iat} s")
    service = _service()
    try:
        service.read(token.strip())
    except InvalidToken as exc:
        out.print(f"[red]refused[/red] ({type(exc).__name__}): {exc}")
        raise typer.Exit(1) from None
    out.print(
        "[green]valid[/green]: a known key signed it; it is in its time window and meant for us"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version; safe to run again."""
    settings = _settings()
    engine = create_database_engine(settings.database_url)
    try:
        with SqlStore(engine).startup_lock():  # servers starting now wait for the upgrade
            before = schema_state(engine)
            upgrade(engine)
        out.print(f"database schema: {before} -> {schema_state(engine)}")
    finally:
        engine.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _when(instant: datetime) -> str:
    delta = instant - datetime.now(UTC)
    seconds = int(abs(delta.total_seconds()))
    if seconds < 90:
        span = f"{seconds} s"
    elif seconds < 5400:
        span = f"{seconds // 60} min"
    elif seconds < 172800:
        span = f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86400} days"
    relative = f"in {span}" if delta.total_seconds() > 0 else f"{span} ago"
    return f"{instant:%Y-%m-%d %H:%M:%S} UTC ({relative})"
