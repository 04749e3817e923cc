"""The `authgate` command: serve, secret, keys, users, audit, token, db."""

from authgate.cli import audit, db, keys, serve, tokens, users  # noqa: F401  (they add commands)
from authgate.cli.app import main

__all__ = ["main"]
