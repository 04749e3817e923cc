"""Server logs: text or JSON lines, and nothing token-shaped gets through."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.web.logs import REDACTED, JsonLines, Scrubbed, configure_logging, scrub
from helpers import PASSWORD
from servers import Server

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    "line",
    [
        f'127.0.0.1:5000 - "GET /test?access_token={JWT} HTTP/1.1" 200',
        f"Authorization: Bearer {JWT}",
        "POST /token?refresh_token=V4nQk2l0_opaque-value HTTP/1.1",
        "GET /callback?code=abc123&state=x",
        "password=hunter2hunter2",
    ],
)
def test_scrub_removes_tokens_and_token_parameters(line: str) -> None:
    scrubbed = scrub(line)

    assert REDACTED in scrubbed
    for secret in (JWT, "V4nQk2l0_opaque-value", "abc123", "hunter2hunter2"):
        assert secret not in scrubbed


def test_scrub_leaves_ordinary_text_alone() -> None:
    line = 'GET /sessions HTTP/1.1" 200 (session 8c1f, user ada@example.com)'

    assert scrub(line) == line


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "authgate", "levelname": "WARNING", "msg": message})
    made.args = args or None
    made.__dict__.update(extra)
    return made


def test_json_lines_carry_time_level_logger_message_and_extra_fields() -> None:
    line = JsonLines().format(record("signed out %s", "everywhere", event="sign_out", count=3))

    entry = json.loads(line)
    assert entry["message"] == "signed out everywhere"
    assert entry["level"] == "warning"
    assert entry["logger"] == "authgate"
    assert entry["event"] == "sign_out"
    assert entry["count"] == 3
    assert entry["time"].endswith("+00:00")


def test_the_filter_scrubs_arguments_before_any_formatter_sees_them() -> None:
    made = record("request %s", f"/test?token={JWT}")

    assert Scrubbed().filter(made)

    assert JWT not in JsonLines().format(made)


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    names = ("authgate", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).handlers, logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers = handlers
        logging.getLogger(name).propagate = propagate


def test_configured_json_logging_writes_scrubbed_json_to_stderr(
    restored_loggers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="info", format="json")

    logging.getLogger("uvicorn.access").info('"GET /test?access_token=%s HTTP/1.1" 200', JWT)

    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["logger"] == "uvicorn.access"
    assert JWT not in entry["message"]


@pytest.mark.e2e
def test_a_real_server_logs_json_lines_without_tokens(tmp_path: Path) -> None:
    settings = {"AUTHGATE_LOG_FORMAT": "json", "AUTHGATE_LOG_LEVEL": "info"}
    with Server(tmp_path, settings) as server:
        body = {"email": "ada@example.com", "password": PASSWORD}
        httpx.post(f"{server.url}/sign-up", json=body)
        token = httpx.post(f"{server.url}/sign-in", json=body).json()["access_token"]
        httpx.get(f"{server.url}/test", params={"access_token": token})

    entries = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    assert any(e["logger"] == "uvicorn.access" for e in entries)  # serve --access-log
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert token not in server.log
    assert PASSWORD not in server.log


def test_configuring_logs_leaves_a_disabled_access_log_disabled(restored_loggers: None) -> None:
    """uvicorn logs each request while `uvicorn.access` has a handler (a costly line each)."""
    logging.getLogger("uvicorn.access").handlers = []  # what `uvicorn --no-access-log` does
    logging.getLogger("uvicorn.access").propagate = False

    configure_logging(format="json")

    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert logging.getLogger("authgate").handlers
