"""Logging for the server: one line per record, as text or JSON, with tokens scrubbed.

authgate never logs a password, a token or a key on purpose (tests check each path). The
scrubbing filter is the second line of defence, for what others log: uvicorn's access
log prints request paths, and a client that puts a token in a query string would
otherwise have it written to disk.

Every time is UTC. A text line reads `2030-01-01T12:00:00.000Z WARNING authgate: …`; its
control characters are escaped (a line break in a logged value shows as `\\n`), so no value
can start a line that passes for another record, and a traceback's lines follow indented.

Two loggers write structured lines: `authgate.audit`, each audit event (wiring.py), and
`authgate.security`, each refused request (web/refusals.py). Their fields are keys of the
JSON line, and `key=value` pairs in the message of either form.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
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
                entry[name] = _json_value(value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _json_value(value: object) -> object:
    """A field as JSON: numbers, booleans and null as such, a mapping as an object of
    strings (an audit event's details), anything else as its string."""
    if isinstance(value, int | float | bool | None):
        return value
    if isinstance(value, Mapping):
        return {str(name): str(item) for name, item in value.items()}
    return str(value)


# A value written bare in a `key=value` line; any other is quoted, as a JSON string.
BARE = re.compile(r"[\w.:/+{}-]+")


def key_values(fields: Mapping[str, object]) -> str:
    """`fields` as `key=value` pairs, for the readable form of a structured line.

    A value with a space, a quote, an `=` or nothing in it is quoted, so each pair reads
    back unambiguously: `reason="the signature does not verify"`.
    """
    return " ".join(f"{name}={_shown(str(value))}" for name, value in fields.items())


def _shown(text: str) -> str:
    return text if BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


# C0 controls but the tab, DEL, and what some viewers also take for a line break.
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
ESCAPES = {"\n": "\\n", "\r": "\\r"}


def escape_controls(text: str) -> str:
    """`text` on one line: line breaks as `\\n`, `\\r`, other controls as `\\xNN`/`\\uNNNN`."""
    return CONTROL.sub(lambda m: ESCAPES.get(m[0]) or ascii(m[0])[1:-1], text)


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


class TextLines(logging.Formatter):
    """`time level logger: message`, one line per record, with the time in UTC."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.converter = _utc

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return scrub(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        # What follows the message (a traceback, a stack) is indented: only a record's own
        # line starts at the margin, with its time.
        return super().format(record).replace("\n", "\n    ")


def configure_logging(*, level: str = "info", format: LogFormat = "text") -> None:
    """Send authgate's and uvicorn's records to stderr in `format`, scrubbed."""
    handler = logging.StreamHandler()
    handler.addFilter(Scrubbed())
    if format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(TextLines())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if name == "uvicorn.access" and not logger.handlers:
            # uvicorn logs requests only while this logger has handlers: `serve` without
            # --access-log left it none, and adding one would cost half the throughput.
            continue
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level.upper())
