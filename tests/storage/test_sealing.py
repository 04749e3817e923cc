"""Startup seals every stored secret anew under the current key-encryption key, in the
current format: values from before (Fernet), values under a previous key and values in
clear (ASVS 5.0 V11.3.2, V11.2.2). On SQLite and PostgreSQL, through the real service."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyotp
import pytest
from sqlalchemy import select, update

from authgate.core.clock import FrozenClock
from authgate.core.keys import sealed_prefix, unseal
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.totp import STEP_SECONDS
from authgate.errors import ConfigurationError, MfaRequired
from authgate.service import Service, SignedIn
from authgate.settings import Secret, Settings
from authgate.storage.engine import create_database_engine
from authgate.storage.sql import SEALED_VALUES
from authgate.storage.tables import metadata
from helpers import PASSWORD, sealed_by_fernet

EMAIL = "ada@example.com"


def strong_key() -> str:
    """A key-encryption key as `authgate secret` prints one."""
    return secrets.token_urlsafe(32)


@contextlib.contextmanager
def started(
    database_url: str, clock: FrozenClock, *, kek: str | None, previous: Sequence[str] = ()
) -> Iterator[Service]:
    """authgate started on the database with these keys, and closed again."""
    settings = Settings(
        database_url=database_url,
        key_encryption_key=Secret(kek) if kek else None,
        previous_key_encryption_keys=tuple(Secret(key) for key in previous),
    )
    service = Service(settings, clock=clock, preset=FAST_FOR_TESTS)
    try:
        yield service
    finally:
        service.close()


@dataclass(frozen=True, slots=True)
class Kept:
    """One of each secret sealed at rest, and what shows each still opens."""

    totp_secret: str  # sealed in totp_factors
    recovery_codes: list[str]  # checked under a server key sealed in server_secrets
    access_token: str  # signed with a private key sealed in signing_keys
    mail: dict[str, str]  # outbox id -> text: the bodies sealed in the outbox


def keep_one_of_each_secret(service: Service, clock: FrozenClock) -> Kept:
    """A user with an authenticator app, signed in with it, and mail waiting to leave."""
    user = service.sign_up(EMAIL, PASSWORD)  # its verification mail waits in the outbox
    secret = service.enrol_totp(user.id).secret
    codes = service.confirm_totp(user.id, code_now(secret, clock))
    signed_in = signed_in_with_code(service, secret, clock)
    return Kept(secret, codes, signed_in.access_token, mail_texts(service))


def code_now(secret: str, clock: FrozenClock) -> str:
    return pyotp.TOTP(secret).at(int(clock().timestamp()))


def signed_in_with_code(service: Service, secret: str, clock: FrozenClock) -> SignedIn:
    clock.advance(seconds=STEP_SECONDS)  # a code works once: the next step's
    with pytest.raises(MfaRequired) as required:
        service.sign_in(EMAIL, PASSWORD)
    return service.sign_in_mfa(required.value.mfa_token, code=code_now(secret, clock))


def mail_texts(service: Service) -> dict[str, str]:
    letters = {envelope.id: service.open_mail(envelope) for envelope in service.outbox()}
    return {id_: letter.text for id_, letter in letters.items() if letter is not None}


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def assert_every_secret_still_opens(
    service: Service, kept: Kept, clock: FrozenClock, *, recovery_code: str
) -> None:
    """Tokens issued before verify, the same key signs, the TOTP secret and the recovery-code
    key check codes, and every waiting mail reads as it was written."""
    assert service.read(kept.access_token).email == EMAIL
    signed_in = signed_in_with_code(service, kept.totp_secret, clock)
    assert kid_of(signed_in.access_token) == kid_of(kept.access_token)
    assert service.read(signed_in.access_token).amr == ("pwd", "otp", "mfa")
    with pytest.raises(MfaRequired) as required:
        service.sign_in(EMAIL, PASSWORD)
    assert service.sign_in_mfa(required.value.mfa_token, recovery_code=recovery_code)
    assert mail_texts(service).items() >= kept.mail.items()
    assert kept.mail


def stored_values(database_url: str) -> list[tuple[str, bool, bytes]]:
    """Every value that may be sealed, as (table, its sealed flag, the stored bytes)."""
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as conn:
            return [
                (table.name, row.sealed, bytes(row.value))
                for table, _, value in SEALED_VALUES
                for row in conn.execute(
                    select(table.c.sealed, value.label("value")).where(value.is_not(None))
                )
            ]
    finally:
        engine.dispose()


def assert_all_sealed_under(database_url: str, kek: str) -> None:
    values = stored_values(database_url)
    tables = {table for table, _, _ in values}
    assert tables == {"signing_keys", "server_secrets", "totp_factors", "outbox"}
    assert [
        (table, value[:13])
        for table, sealed, value in values
        if not (sealed and value.startswith(sealed_prefix(kek)))
    ] == []


def rewrite_as_an_older_version_sealed_it(database_url: str, kek: str) -> None:
    """Every sealed value as the Fernet token authgate stored before the `ag1` format."""
    engine = create_database_engine(database_url)
    try:
        with engine.begin() as conn:
            for table, name, value in SEALED_VALUES:
                query = select(name.label("name"), value.label("value")).where(
                    table.c.sealed.is_(True), value.is_not(None)
                )
                for row in conn.execute(query).all():
                    older = sealed_by_fernet(unseal(row.value, kek), kek)
                    conn.execute(update(table).where(name == row.name).values({value: older}))
    finally:
        engine.dispose()


# -- what the startup pass covers -----------------------------------------------------------


def test_every_table_with_a_sealed_flag_is_sealed_anew_at_startup() -> None:
    """A new table of sealed values that the startup pass missed would keep its values under
    a key that a rotation then removes."""
    flagged = {table.name for table in metadata.tables.values() if "sealed" in table.c}

    assert {table.name for table, _, _ in SEALED_VALUES} == flagged


# -- V11.3.2: values from before the AES-GCM format -----------------------------------------


def test_fernet_values_from_an_older_version_still_open_and_are_sealed_anew_at_the_next_start(
    database_url: str, clock: FrozenClock
) -> None:
    kek = strong_key()
    with started(database_url, clock, kek=kek) as service:
        kept = keep_one_of_each_secret(service, clock)
    rewrite_as_an_older_version_sealed_it(database_url, kek)
    assert {value[:6] for _, _, value in stored_values(database_url)} == {b"gAAAAA"}

    with started(database_url, clock, kek=kek) as service:
        assert_all_sealed_under(database_url, kek)
        assert_every_secret_still_opens(service, kept, clock, recovery_code=kept.recovery_codes[0])


def test_totp_secrets_and_mail_stored_in_clear_are_sealed_once_a_key_encryption_key_is_set(
    database_url: str, clock: FrozenClock
) -> None:
    with started(database_url, clock, kek=None) as service:
        kept = keep_one_of_each_secret(service, clock)
    assert {table for table, sealed, _ in stored_values(database_url) if not sealed} == {
        "signing_keys",
        "server_secrets",
        "totp_factors",
        "outbox",
    }
    kek = strong_key()

    with started(database_url, clock, kek=kek) as service:
        assert_all_sealed_under(database_url, kek)
        assert_every_secret_still_opens(service, kept, clock, recovery_code=kept.recovery_codes[0])


# -- V11.2.2: replacing the key-encryption key -----------------------------------------------


def test_rotating_the_key_encryption_key_keeps_every_secret_readable_and_frees_the_old_key(
    database_url: str, clock: FrozenClock
) -> None:
    """The old key moves to AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEYS for one start; after it
    nothing is sealed under the old key, and a start with the new key alone works."""
    old, new = strong_key(), strong_key()
    with started(database_url, clock, kek=old) as service:
        kept = keep_one_of_each_secret(service, clock)

    with started(database_url, clock, kek=new, previous=[old]) as service:
        assert_all_sealed_under(database_url, new)
        assert_every_secret_still_opens(service, kept, clock, recovery_code=kept.recovery_codes[0])

    with started(database_url, clock, kek=new) as service:
        assert_every_secret_still_opens(service, kept, clock, recovery_code=kept.recovery_codes[1])


@pytest.mark.parametrize(
    ("previous", "refusal"),
    [
        pytest.param(
            0, r"^AUTHGATE_KEY_ENCRYPTION_KEY does not decrypt the stored keys$", id="none"
        ),
        pytest.param(1, "nor does any of AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEYS", id="wrong-one"),
    ],
)
def test_a_wrong_key_encryption_key_stops_startup_and_leaves_the_stored_values_as_they_were(
    database_url: str, clock: FrozenClock, previous: int, refusal: str
) -> None:
    kek = strong_key()
    with started(database_url, clock, kek=kek) as service:
        kept = keep_one_of_each_secret(service, clock)
    stored = stored_values(database_url)

    wrong = [strong_key() for _ in range(previous)]
    with (
        pytest.raises(ConfigurationError, match=refusal),
        started(database_url, clock, kek=strong_key(), previous=wrong),
    ):
        pass

    assert stored_values(database_url) == stored
    with started(database_url, clock, kek=kek) as service:
        assert_every_secret_still_opens(service, kept, clock, recovery_code=kept.recovery_codes[0])
