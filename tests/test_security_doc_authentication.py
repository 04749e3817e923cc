"""docs/security.md against the code, for authentication (ASVS V6.1.1, V6.1.2, V6.1.3,
V6.3.4): every throttle setting with its default, every route that hands out an access token
or sets the session cookies, and the password policy's settings and context words are in
their sections, so the policy cannot silently drift from what the server does."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS, MAX_LENGTH, UNTELLING
from authgate.settings import PREFIX, Settings
from authgate.web.app import create_app
from authgate.wiring import service_words
from helpers import GENEROUS_THROTTLES, filled_from

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"
PATHWAYS = "Authentication pathways"
RATE_LIMITING = "Rate limiting and anti-automation"
PASSWORDS = "Passwords"
# What a route's answer carries when it hands out a session: the body transport's tokens
# (TokenOut, AccessOut) or the cookie transport's `expires_in` (CookieTokenOut).
TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "expires_in"})
# What a route's code calls when it hands out a session (web/transport.py, web/cookies.py).
HANDS_OUT = re.compile(r"\.(signed_in|reauthenticated|set_session|set_access)\(")


def section(heading: str) -> str:
    """The text of docs/security.md under `## heading`, up to the next `## ` heading."""
    text = SECURITY.read_text("utf-8")
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found, f"docs/security.md has no '## {heading}' section"
    return found[1]


def flat(text: str) -> str:
    """The text with every run of white space (line breaks included) as one space."""
    return " ".join(text.split())


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def settings_named(prefix: str) -> list[str]:
    """The environment names of the Settings fields whose names start with `prefix`."""
    return [
        PREFIX + f.name.upper() for f in dataclasses.fields(Settings) if f.name.startswith(prefix)
    ]


@pytest.fixture
def app(tmp_path: Path, sqlite_template: Path, clock: FrozenClock) -> Iterator[FastAPI]:
    """The real app, as the HTTP tests build it, on a copy of the run's SQLite template."""
    url = filled_from(sqlite_template, f"sqlite:///{tmp_path / 'authgate.db'}", tmp_path)
    built = create_app(
        Settings(database_url=url, **GENEROUS_THROTTLES), clock=clock, preset=FAST_FOR_TESTS
    )
    yield built
    built.state.service.close()


def _properties(schema: Mapping[str, Any], components: Mapping[str, Any]) -> set[str]:
    """Every property name a response schema may have, through $refs and unions."""
    if "$ref" in schema:
        return _properties(components[str(schema["$ref"]).rsplit("/", 1)[-1]], components)
    found = {str(name) for name in schema.get("properties", {})}
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found |= _properties(option, components)
    return found


def token_routes(app: FastAPI) -> set[str]:
    """`METHOD /path` of every route that answers with tokens or sets the session cookies,
    found twice: by the OpenAPI schema of its answers, and by what its code calls."""
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for content in response.get("content", {}).values():
                    if _properties(content.get("schema", {}), components) & TOKEN_FIELDS:
                        found.add(f"{method.upper()} {path}")
    for route in app.routes:
        if isinstance(route, APIRoute) and HANDS_OUT.search(inspect.getsource(route.endpoint)):
            found |= {f"{method} {route.path}" for method in route.methods or ()}
    return found


def test_every_route_that_hands_out_tokens_is_in_the_pathways_table(app: FastAPI) -> None:
    """V6.1.3, V6.3.4: no undocumented way to get an access token."""
    routes = token_routes(app)
    # The search itself works: it finds the pathways everyone knows of.
    assert {"POST /sign-in", "POST /token", "POST /reauthenticate"} <= routes
    rows = "\n".join(table_rows(section(PATHWAYS)))
    missing = sorted(route for route in routes if f"`{route}`" not in rows)
    assert not missing, f"not in the pathways table of docs/security.md: {missing}"


def test_the_pathways_section_says_all_pathways_apply_the_same_strength() -> None:
    assert "All pathways apply the same strength" in flat(section(PATHWAYS))


def test_every_throttle_setting_is_documented_with_its_default() -> None:
    """V6.1.1: each AUTHGATE_THROTTLE_* has a row in the rate-limiting table naming its
    default, and the table names no throttle the server does not have."""
    rows = table_rows(section(RATE_LIMITING))
    defaults = Settings()
    names = settings_named("throttle_")
    assert len(names) >= 7  # sign-up, sign-in x2, token, passkey options, mail x2
    for name in names:
        row = next((r for r in rows if r.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{name} has no row in the rate-limiting table"
        default = getattr(defaults, name.removeprefix(PREFIX).lower())
        assert f"`{default}`" in row, f"{name}'s row does not say its default, {default}"
    documented = set(re.findall(r"AUTHGATE_THROTTLE_[A-Z_]+", section(RATE_LIMITING)))
    assert documented <= set(names), f"no such settings: {sorted(documented - set(names))}"


def test_the_rate_limiting_section_covers_the_other_controls() -> None:
    """V6.1.1: lockout, pacing, the hashing queue, many instances and proxies."""
    text = flat(section(RATE_LIMITING))
    for named in (
        "AUTHGATE_HASHING_WORKERS",
        "AUTHGATE_HASHING_QUEUE",
        "AUTHGATE_REDIS_URL",
        "AUTHGATE_TRUSTED_PROXIES",
        "Retry-After",
        "malicious lockout",
        "Pacing",
    ):
        assert named in text, named
    assert f"({Settings().hashing_queue})" in text


def test_the_password_settings_and_limits_are_documented() -> None:
    """V6.1.2: the policy's settings, its bounds, and the words left out of matching."""
    text = flat(section(PASSWORDS))
    for name in [*settings_named("password_"), *settings_named("breached_passwords_")]:
        assert f"`{name}`" in text, f"{name} is not in the Passwords section"
    assert f"`{Settings().password_min_length}` by default" in text
    assert f"At most {MAX_LENGTH} characters" in text
    for word in sorted(UNTELLING):
        assert f"`{word}`" in text, f"the ignored word {word!r} is not listed"


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(Settings(), id="defaults"),
        pytest.param(
            Settings(
                issuer="https://auth.acme-shop.example",
                mail_from="Acme Shop <no-reply@acme-shop.example>",
            ),
            id="the-documented-example",
        ),
    ],
)
def test_the_service_context_words_are_the_documented_ones(settings: Settings) -> None:
    """V6.1.2: every word the server refuses inside passwords is one the section lists."""
    text = section(PASSWORDS)
    for word in sorted(service_words(settings)):
        assert f"`{word}`" in text, f"the context word {word!r} is not in the Passwords section"
