"""Logging for the server: one line per record, as text or JSON, with tokens scrubbed.

authgate never logs a password, a token or a key on purpose (tests check each path). The
scrubbing filter is the second line of defence, for what others log: uvicorn's access
log prints request paths, and a client that puts a token in a query string would
otherwise have it written to disk.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

# A compact JWS or JWE (base64url segments starting with `eyJ`, i.e. '{"'), and the
# value of any token-like query parameter.
JOSE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){2,4}")
TOKEN_PARAMETER = re.compile(
    r"(?i)\b((?:access_|refresh_|id_)?token|password|secret|code)=([^&\s\"']+)"
)
REDACTED = "[redacted]"
# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
LOGGERS = ("authgate", "uvicorn", "uvicorn.error", "uvicorn.access")


def scrub(text: str) -> str:
    """`text` with anything token-shaped replaced."""
    text = JOSE.sub(REDACTED, text)
    return TOKEN_PARAMETER.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class Scrubbed(logging.Filter):
    """Render the message, scrub it, and keep the record (filters may also rewrite)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, level: str = "info", format: LogFormat = "text") -> None:
    """Send authgate's and uvicorn's records to stderr in `format`, scrubbed."""
    handler = logging.StreamHandler()
    handler.addFilter(Scrubbed())
    if format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if name == "uvicorn.access" and not logger.handlers:
            # uvicorn logs requests only while this logger has handlers: `serve` without
            # --access-log left it none, and adding one would cost half the throughput.
            continue
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level.upper())
