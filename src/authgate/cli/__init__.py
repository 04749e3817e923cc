"""The `authgate` command: serve, secret, keys, users, sessions, mail, audit, token, db."""

from authgate.cli import (  # noqa: F401  (they add commands)
    audit,
    db,
    keys,
    mail,
    serve,
    sessions,
    tokens,
    users,
)
from authgate.cli.app import main

__all__ = ["main"]
