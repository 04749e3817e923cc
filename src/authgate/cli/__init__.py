"""The `authgate` command: serve, secret, keys, users, mail, audit, token, db."""

from authgate.cli import audit, db, keys, mail, serve, tokens, users  # noqa: F401  (they add commands)
from authgate.cli.app import main

__all__ = ["main"]
