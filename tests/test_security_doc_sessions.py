"""docs/security.md's "Sessions" and "Tokens" sections against the code (ASVS V7.1, V9).

The policy text is the operator's reference for timeouts, session limits, what ends a
session and how a token must be checked; these tests keep it from going stale: every
session setting with its real default, every way the code ends a session, every operator
command named, every claim and header an access token can carry, every algorithm, and
every setting the Verifier reads.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

import authgate.cli
from authgate.cli.app import app
from authgate.core.keys import ALGORITHMS, PUBLIC_JWK_SHAPES
from authgate.core.store import SESSION_LIMIT
from authgate.core.tokens import ACCEPTED_TYPES, ALLOWED_HEADERS, LEEWAY, AccessClaims
from authgate.settings import PREFIX, Settings
from authgate.verifier import Verifier

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
SOURCE = ROOT / "src" / "authgate"

# The settings that shape a session's life, its tokens and how fast an ending is noticed.
SESSION_SETTINGS = (
    "session_idle_timeout",
    "refresh_token_ttl",
    "access_token_ttl",
    "max_sessions_per_user",
    "refresh_reuse_grace",
    "reauth_max_age",
    "revocation_poll_interval",
)
# A literal end reason handed to the code that ends sessions: `reason="signed_out"`, or a
# parameter's default, `reason: str = "signed_out_everywhere"`.
END_REASON = re.compile(r'\breason(?:: str)?\s*=\s*"([a-z_]+)"')
COMMAND = re.compile(r"`authgate ([a-z-]+) ([a-z-]+)")
# Headers that would let a token choose its own key, or demand extensions (RFC 8725 §3.10).
KEY_POINTING_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
VERIFIER_SETTING = re.compile(r'values\.[a-z]+\("([A-Z_]+)"\)')


def section(heading: str) -> str:
    """The text under `heading` (a `## ` line) up to the next `## ` heading."""
    lines = DOC.read_text("utf-8").splitlines()
    assert heading in lines, f"{DOC.name} has no {heading!r} section"
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith("## ")),
        len(lines),
    )
    return "\n".join(lines[start:end])


def table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in `text`, separator rows left out."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def named(cell: str) -> set[str]:
    """The `code` spans of a cell."""
    return set(re.findall(r"`([^`]+)`", cell))


def default_of(name: str) -> str:
    """A setting's default as the doc writes it: whole seconds, or the number."""
    field = {f.name: f for f in dataclasses.fields(Settings)}[name]
    value = field.default
    if isinstance(value, timedelta):
        return str(int(value.total_seconds()))
    return str(value)


def subcommands(command: object) -> dict[str, object]:
    """The commands of a command group (Typer's own click types: no isinstance check)."""
    found = getattr(command, "commands", None)
    assert isinstance(found, dict), f"{command!r} is not a command group"
    return found


def end_reasons() -> set[str]:
    """Every reason the code ends a session for, as stored on the session and audited."""
    found = {SESSION_LIMIT}
    for path in SOURCE.rglob("*.py"):
        found.update(END_REASON.findall(path.read_text("utf-8")))
    return found


# -- Sessions --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SESSION_SETTINGS)
def test_every_session_setting_is_in_the_sessions_table_with_its_default(name: str) -> None:
    variable = f"{PREFIX}{name.upper()}"
    rows = {row[0]: row for row in table_rows(section("## Sessions")) if len(row) >= 3}

    assert f"`{variable}`" in rows, f"{variable} is not in the Sessions settings table"
    documented = named(rows[f"`{variable}`"][1])
    assert documented == {default_of(name)}, (
        f"{variable}: the doc says {documented}, the code's default is {default_of(name)}"
    )


def test_every_way_a_session_ends_is_in_the_sessions_table() -> None:
    reasons = end_reasons()
    assert {"signed_out", "idle_timeout", "session_limit"} <= reasons  # the scan still works
    first_cells = set().union(*(named(row[0]) for row in table_rows(section("## Sessions"))))

    missing = sorted(reasons - first_cells)

    assert not missing, f"ways a session ends that the Sessions section does not list: {missing}"


def test_the_concurrent_session_policy_says_what_happens_beyond_the_limit() -> None:
    text = " ".join(section("## Sessions").split())

    assert "### How many sessions at once" in section("## Sessions")
    assert "`AUTHGATE_MAX_SESSIONS_PER_USER` is `0` by default" in text
    assert "least recently used" in text
    assert f"`{SESSION_LIMIT}`" in text


def test_the_operator_commands_named_exist() -> None:
    assert callable(authgate.cli.main)  # importing authgate.cli adds every group to `app`
    groups = subcommands(typer.main.get_command(app))
    mentioned = set(COMMAND.findall(section("## Sessions")))
    assert {("users", "sign-out"), ("sessions", "end-all"), ("users", "disable")} <= mentioned

    for group, command in sorted(mentioned):
        assert group in groups, f"`authgate {group}` is not a command group"
        commands = subcommands(groups[group])
        assert command in commands, f"`authgate {group} {command}` is not a command"


def test_the_sessions_section_says_federation_is_out_of_its_scope() -> None:
    text = section("## Sessions")

    assert "### Federation and single sign-on" in text
    assert "authgate takes part in no federation" in text


# -- Tokens ----------------------------------------------------------------------------


def test_every_claim_an_access_token_can_carry_is_in_the_claims_table() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    everything = AccessClaims(
        issuer="https://auth.example",
        subject="user",
        audience=("api",),
        issued_at=now,
        expires_at=now + timedelta(minutes=15),
        token_id="jti",
        session_id="sid",
        email="ada@example.com",
        scopes=frozenset({"read"}),
        roles=frozenset({"admin"}),
        email_verified=True,
        auth_time=now,
        amr=("pwd",),
    )
    unset = [f.name for f in dataclasses.fields(AccessClaims) if not getattr(everything, f.name)]
    assert not unset, f"the test leaves {unset} empty: give every field a value"
    first_cells = set().union(*(named(row[0]) for row in table_rows(section("## Tokens"))))

    missing = sorted(set(everything.as_dict()) - first_cells)

    assert not missing, f"claims the Tokens section's table does not list: {missing}"


def test_the_header_parameters_accepted_and_refused_are_named() -> None:
    text = section("## Tokens")

    for name in sorted(ALLOWED_HEADERS):
        assert f"`{name}`" in text, f"accepted header parameter {name} is not named"
    for media_type in sorted(ACCEPTED_TYPES):
        assert f"`{media_type}`" in text, f"typ {media_type} is not named"
    for name in KEY_POINTING_HEADERS:
        assert name not in ALLOWED_HEADERS
        assert f"`{name}`" in text, f"refused header parameter {name} is not named"


def test_every_signing_algorithm_is_named_and_none_is_not_one() -> None:
    text = section("## Tokens")

    assert "none" not in {alg.lower() for alg in ALGORITHMS}
    for alg in ALGORITHMS:
        assert f"`{alg}`" in text, f"AUTHGATE_ALGORITHM={alg} is not named"
    for alg in PUBLIC_JWK_SHAPES:  # what a JWK Set may hold
        assert f"`{alg}`" in text


def test_the_leeway_and_every_setting_the_verifier_reads_are_named() -> None:
    text = " ".join(section("## Tokens").split())
    read = VERIFIER_SETTING.findall(inspect.getsource(Verifier.from_settings))
    assert {"ISSUER", "AUDIENCE", "JWKS_URL", "KEYS", "REDIS_URL"} <= set(read)

    assert f"leeway of {int(LEEWAY.total_seconds())} s" in text
    for name in read:
        assert f"`{PREFIX}{name}`" in text, f"the Verifier reads {PREFIX}{name}: not named"
