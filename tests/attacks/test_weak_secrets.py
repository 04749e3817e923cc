"""Weak secrets and key-encryption keys stop startup; tokens that outlive the TTL are refused.

A secret from jwt_tool's list of common secrets passed the old startup check (32 bytes,
12 distinct values): jwt_tool cracked it, and forged a token that `GET /test` accepted.
So the secret must be an encoded random value, and a token whose `exp - iat` is longer
than the access-token lifetime (plus leeway) is refused even when its signature verifies:
the server never issues one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from authgate import ExpiredToken, StaticKeys, Verifier
from authgate.cli import main
from authgate.core.clock import FrozenClock
from authgate.core.keys import check_secret
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import LEEWAY
from authgate.errors import ConfigurationError
from authgate.service import Service
from authgate.settings import Secret, Settings
from authgate.verifier import MAX_TOKEN_LIFETIME
from authgate.web.app import create_app
from helpers import PASSWORD, bearer

from .test_forged_tokens import decoded, signed_by

TTL = Settings().access_token_ttl
REVIEWED_SECRET = "012345678901234567890123456789XY"  # in jwt_tool's common-secrets list


def start(**variables: str) -> Settings:
    """Settings as `authgate serve` reads them at startup."""
    environ = {f"AUTHGATE_{name.upper()}": value for name, value in variables.items()}
    return Settings.from_env(environ, env_file=None)


# -- the secret ----------------------------------------------------------------

WEAK_SECRETS = [
    pytest.param(REVIEWED_SECRET, id="jwt-tool-common-secret"),
    pytest.param("a" * 32, id="one-letter"),
    pytest.param("a" * 64, id="one-byte-in-hex"),
    pytest.param("0123456789abcdef" * 4, id="hex-counting-sequence"),
    pytest.param(bytes(range(32)).hex(), id="counting-bytes-in-hex"),
    pytest.param("secret" * 6, id="secret-six-times"),
    pytest.param("secret" * 8, id="secret-eight-times-decodes-to-36-bytes"),
    pytest.param("secret" * 20, id="secret-twenty-times"),
    pytest.param("correct horse battery staple ok!", id="passphrase"),
    pytest.param(
        base64.b64encode(b"correct horse battery staple, and a few more words").decode(),
        id="passphrase-in-base64",
    ),
    pytest.param("A" * 43, id="zero-bytes-in-base64url"),
    pytest.param(secrets.token_urlsafe(24), id="192-random-bits"),
]


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_weak_hs256_secret_stops_startup_naming_the_variable(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTHGATE_SECRET") as refused:
        start(algorithm="HS256", secret=secret)

    assert "`authgate secret` prints" in str(refused.value)


def test_weak_secret_stops_startup_with_rs256_too() -> None:
    """With any algorithm, a set AUTHGATE_SECRET keys the server's own HMAC keys."""
    with pytest.raises(ConfigurationError, match="AUTHGATE_SECRET"):
        start(algorithm="RS256", secret=REVIEWED_SECRET)


def test_the_reviewed_secret_stops_the_command_with_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'authgate.db'}")
    monkeypatch.setenv("AUTHGATE_ALGORITHM", "HS256")
    monkeypatch.setenv("AUTHGATE_SECRET", REVIEWED_SECRET)

    assert main(["keys", "list"]) == 2
    assert "AUTHGATE_SECRET" in capsys.readouterr().err


def test_authgate_secret_output_is_accepted_200_times_in_a_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(200):
        assert main(["secret"]) == 0
        printed = capsys.readouterr().out.strip()
        assert start(algorithm="HS256", secret=printed).secret == Secret(printed)


RANDOM_SECRETS = [
    pytest.param(lambda: secrets.token_urlsafe(32), id="authgate-secret"),
    pytest.param(lambda: secrets.token_hex(32), id="openssl-rand-hex-32"),
    pytest.param(
        lambda: base64.b64encode(secrets.token_bytes(32)).decode(), id="openssl-rand-base64-32"
    ),
    pytest.param(lambda: secrets.token_urlsafe(64), id="512-bits"),
    pytest.param(lambda: secrets.token_bytes(32), id="raw-bytes-in-code"),
]


@pytest.mark.parametrize("make", RANDOM_SECRETS)
def test_random_secrets_are_accepted_every_time(make: Callable[[], str | bytes]) -> None:
    for _ in range(3000):
        check_secret(make(), name="AUTHGATE_SECRET")


ENCODINGS = [bytes.hex, lambda b: base64.urlsafe_b64encode(b).decode(), base64.b64encode]


@given(
    chunk=st.binary(min_size=1, max_size=8),
    extra=st.integers(0, 200),
    encode=st.sampled_from(ENCODINGS),
)
def test_a_short_pattern_repeated_is_refused_however_long(
    chunk: bytes, extra: int, encode: Callable[[bytes], str | bytes]
) -> None:
    """Repeating at most 8 bytes holds at most 64 bits, whatever the length."""
    pattern = (chunk * (32 + extra))[: 32 + extra]
    with pytest.raises(ConfigurationError, match="AUTHGATE_SECRET"):
        check_secret(encode(pattern), name="AUTHGATE_SECRET")


@given(
    first=st.integers(0, 255),
    step=st.integers(0, 255),
    length=st.integers(32, 300),
    encode=st.sampled_from(ENCODINGS),
)
def test_a_counting_sequence_is_refused(
    first: int, step: int, length: int, encode: Callable[[bytes], str | bytes]
) -> None:
    sequence = bytes((first + i * step) % 256 for i in range(length))
    with pytest.raises(ConfigurationError, match="AUTHGATE_SECRET"):
        check_secret(encode(sequence), name="AUTHGATE_SECRET")


def refusal_of(secret: str | bytes) -> str | None:
    """Why the check refuses `secret`; None when it accepts it. Other errors escape."""
    try:
        check_secret(secret, name="AUTHGATE_SECRET")
    except ConfigurationError as refused:
        return str(refused)
    return None


@given(secret=st.text() | st.binary())
def test_any_secret_is_accepted_or_refused_naming_the_variable(secret: str | bytes) -> None:
    refusal = refusal_of(secret)

    assert refusal is None or "AUTHGATE_SECRET" in refusal


# -- the key-encryption key ------------------------------------------------------

WEAK_KEYS = [
    *WEAK_SECRETS,
    pytest.param("swordfish", id="a-word"),
    pytest.param("kek", id="short"),
]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_the_key_encryption_key_must_be_random(key: str) -> None:
    """HKDF makes the sealing key from it without stretching (ASVS V11.4.4): a guessable
    key-encryption key would open every sealed private key, so it must be as random as the
    secret, and a weaker one stops startup without the refusal repeating it."""
    with pytest.raises(ConfigurationError, match="AUTHGATE_KEY_ENCRYPTION_KEY") as refused:
        start(key_encryption_key=key)

    assert "`authgate secret` prints" in str(refused.value)
    assert key not in str(refused.value)


def test_a_weak_key_encryption_key_stops_the_command_without_printing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'authgate.db'}")
    monkeypatch.setenv("AUTHGATE_KEY_ENCRYPTION_KEY", REVIEWED_SECRET)

    assert main(["keys", "list"]) == 2
    printed = capsys.readouterr()
    assert "AUTHGATE_KEY_ENCRYPTION_KEY" in printed.err
    assert REVIEWED_SECRET not in printed.out + printed.err
    assert not (tmp_path / "authgate.db").exists()


def test_a_key_encryption_key_from_authgate_secret_starts_and_seals_what_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["secret"]) == 0
    database = tmp_path / "authgate.db"
    settings = start(
        database_url=f"sqlite:///{database}", key_encryption_key=capsys.readouterr().out.strip()
    )

    with TestClient(create_app(settings, preset=FAST_FOR_TESTS)) as client:
        ready = client.get("/ready")

    assert ready.status_code == 200
    assert ready.json()["warnings"] == []
    with contextlib.closing(sqlite3.connect(database)) as db:
        stored = db.execute(
            "SELECT sealed FROM signing_keys UNION ALL SELECT sealed FROM server_secrets"
        ).fetchall()
    assert stored
    assert all(sealed for (sealed,) in stored)


# -- tokens that live too long ---------------------------------------------------


@dataclass(frozen=True)
class Served:
    client: TestClient
    service: Service
    clock: FrozenClock
    access_token: str

    def lasting(self, lifetime: timedelta) -> str:
        """The genuine token re-signed with the server's own key, with exp = iat + lifetime."""
        header, claims = (decoded(part) for part in self.access_token.split(".")[:2])
        issued_at = claims["iat"]
        assert isinstance(issued_at, int)
        exp = issued_at + int(lifetime.total_seconds())
        return signed_by(self.service.parts.keys.signing, header, {**claims, "exp": exp})

    def verifier(self, max_token_lifetime: timedelta = MAX_TOKEN_LIFETIME) -> Verifier:
        return Verifier(
            self.service.settings.issuer,
            keys=StaticKeys([self.service.parts.keys.signing]),
            max_token_lifetime=max_token_lifetime,
            clock=self.clock,
        )


@pytest.fixture(scope="module", params=["HS256", "RS256"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    algorithm = request.param
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp(algorithm) / 'authgate.db'}",
        algorithm=algorithm,
        secret=Secret(secrets.token_urlsafe(32)) if algorithm == "HS256" else None,
    )
    clock = FrozenClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock, preset=FAST_FOR_TESTS)
    with TestClient(app) as client:
        service: Service = app.state.service
        service.parts.accounts.sign_up("ada@example.com", PASSWORD)
        signed_in = service.sign_in("ada@example.com", PASSWORD)
        yield Served(client, service, clock, signed_in.access_token)


TOO_LONG = [
    pytest.param(TTL + timedelta(hours=2), id="ttl-plus-2h"),
    pytest.param(TTL + LEEWAY + timedelta(seconds=1), id="ttl-plus-leeway-plus-1s"),
]


@pytest.mark.parametrize("route", ["/test", "/me"])
@pytest.mark.parametrize("lifetime", TOO_LONG)
def test_token_living_longer_than_the_ttl_is_refused_by_guarded_routes(
    served: Served, route: str, lifetime: timedelta
) -> None:
    response = served.client.get(route, headers=bearer(served.lasting(lifetime)))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("route", ["/test", "/me"])
def test_token_living_exactly_the_ttl_is_accepted_by_guarded_routes(
    served: Served, route: str
) -> None:
    response = served.client.get(route, headers=bearer(served.lasting(TTL)))

    assert response.status_code == 200


def test_verifier_refuses_a_token_living_two_hours_longer_than_the_ttl(served: Served) -> None:
    with served.verifier() as verifier, pytest.raises(ExpiredToken, match="exp - iat"):
        verifier.verify(served.lasting(TTL + timedelta(hours=2)))


def test_verifier_refuses_a_token_living_longer_than_its_max_token_lifetime(
    served: Served,
) -> None:
    with served.verifier(max_token_lifetime=TTL) as verifier, pytest.raises(ExpiredToken):
        verifier.verify(served.lasting(TTL + LEEWAY + timedelta(seconds=1)))


def test_verifier_accepts_a_token_living_exactly_the_ttl(served: Served) -> None:
    with served.verifier(max_token_lifetime=TTL) as verifier:
        assert verifier.verify(served.lasting(TTL)).subject


def test_token_inspect_explains_a_token_living_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("AUTHGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'authgate.db'}")
    service = Service(Settings.from_env(os.environ), preset=FAST_FOR_TESTS)
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    genuine = service.sign_in("ada@example.com", PASSWORD).access_token
    header, claims = (decoded(part) for part in genuine.split(".")[:2])
    assert isinstance(claims["iat"], int)
    lifetime = int((TTL + timedelta(hours=2)).total_seconds())
    token = signed_by(
        service.parts.keys.signing, header, {**claims, "exp": claims["iat"] + lifetime}
    )
    service.close()

    assert main(["token", "inspect", token]) == 1
    output = capsys.readouterr().out
    assert "ExpiredToken" in output
    assert "exp - iat" in output
