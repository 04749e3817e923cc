"""The `authgate` command's root: the Typer app, its consoles, and what every command opens.

Each command group is a module of this package (serve, keys, users, sessions, mail, audit,
tokens, db) that adds itself to `app` when imported; `authgate.cli.main` imports them all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime

import typer
from rich.console import Console

from authgate.core.clock import utc_now
from authgate.errors import AuthgateError, ConfigurationError
from authgate.service import Service
from authgate.settings import Settings

app = typer.Typer(
    help="authgate: JWT authentication service. Settings come from AUTHGATE_* variables and .env.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


def read_settings() -> Settings:
    return Settings.from_env(os.environ)


_opened: list[Service] = []
SHUTDOWN_GRACE = 10  # seconds `serve` gives requests in flight after SIGTERM or Ctrl-C


def open_service() -> Service:
    """The service for this command; main() closes it (and its database pool) at the end."""
    service = Service(read_settings())
    _opened.append(service)
    return service


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def when(instant: datetime) -> str:
    delta = instant - utc_now()
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
