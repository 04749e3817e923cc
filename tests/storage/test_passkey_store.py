"""The passkey part of the SqlStore contract, on every database: a challenge is spent once,
for its purpose and account only; a counter moves on once; a credential id is registered
once; deleting the account takes its passkeys with it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from authgate.core.passkeys import Purpose, StoredPasskey
from authgate.core.store import Mailing, User, UserId
from authgate.service import Service
from authgate.storage.passkeys import SqlPasskeys

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
ADA = UserId("user-1")


@pytest.fixture
def passkeys(service: Service) -> SqlPasskeys:
    service.parts.store.add_user(User(ADA, "ada@example.com", "$argon2id$x", NOW))
    return SqlPasskeys(service.parts.store)


def passkey(credential_id: str = "Y3JlZA", *, sign_count: int = 0) -> StoredPasskey:
    return StoredPasskey(
        id=f"pk-{credential_id}",
        user_id=ADA,
        credential_id=credential_id,
        public_key=b"\xa5cose",
        sign_count=sign_count,
        transports=("internal", "hybrid"),
        backup_eligible=True,
        backup_state=False,
        name="Laptop",
        aaguid="00000000-0000-0000-0000-000000000000",
        created_at=NOW,
        last_used_at=None,
    )


def test_of_concurrent_spends_of_one_challenge_exactly_one_wins(passkeys: SqlPasskeys) -> None:
    passkeys.add_challenge(
        "c" * 64, purpose="authenticate", user_id=None, now=NOW, expires_at=LATER
    )
    with ThreadPoolExecutor(8) as pool:
        spends = pool.map(
            lambda _: passkeys.spend_challenge(
                "c" * 64, purpose="authenticate", user_id=None, now=NOW
            ),
            range(8),
        )
        results = list(spends)
    assert results.count(True) == 1


@pytest.mark.parametrize(
    ("purpose", "user_id", "now"),
    [
        pytest.param("authenticate", ADA, NOW, id="another-purpose"),
        pytest.param("register", None, NOW, id="no-account"),
        pytest.param("register", UserId("user-2"), NOW, id="another-account"),
        pytest.param("register", ADA, LATER, id="expired"),
    ],
)
def test_a_challenge_is_spent_only_for_its_purpose_and_account_in_time(
    passkeys: SqlPasskeys, purpose: Purpose, user_id: UserId | None, now: datetime
) -> None:
    passkeys.add_challenge("r" * 64, purpose="register", user_id=ADA, now=NOW, expires_at=LATER)
    refused = passkeys.spend_challenge("r" * 64, purpose=purpose, user_id=user_id, now=now)
    assert not refused
    assert passkeys.spend_challenge("r" * 64, purpose="register", user_id=ADA, now=NOW)


def test_a_passkey_is_stored_and_read_back_as_it_was(passkeys: SqlPasskeys) -> None:
    stored = passkey(sign_count=2**32 - 1)  # the counter is unsigned 32-bit
    assert passkeys.add_passkey(stored)
    assert passkeys.passkey_by_credential(stored.credential_id) == stored
    assert passkeys.passkeys(ADA) == [stored]
    assert passkeys.has_passkey(ADA)


def test_a_credential_id_is_registered_once(passkeys: SqlPasskeys) -> None:
    assert passkeys.add_passkey(passkey())
    assert not passkeys.add_passkey(passkey())


def test_of_concurrent_uses_at_one_count_exactly_one_moves_it(passkeys: SqlPasskeys) -> None:
    passkeys.add_passkey(passkey(sign_count=5))
    with ThreadPoolExecutor(8) as pool:
        moves = pool.map(
            lambda n: passkeys.record_use(
                "pk-Y3JlZA", sign_count_before=5, sign_count=6 + n, backup_state=True, now=LATER
            ),
            range(8),
        )
        results = list(moves)
    assert results.count(True) == 1
    found = passkeys.passkey_by_credential("Y3JlZA")
    assert found is not None
    assert (found.backup_state, found.last_used_at) == (True, LATER)


def test_rename_and_remove_touch_only_the_accounts_own(passkeys: SqlPasskeys) -> None:
    passkeys.add_passkey(passkey())
    assert passkeys.rename_passkey(UserId("user-2"), "pk-Y3JlZA", "Mine") is None
    assert not passkeys.remove_passkey(UserId("user-2"), "pk-Y3JlZA")
    renamed = passkeys.rename_passkey(ADA, "pk-Y3JlZA", "Phone")
    assert renamed is not None
    assert renamed.name == "Phone"
    assert passkeys.remove_passkey(ADA, "pk-Y3JlZA")
    assert passkeys.passkeys(ADA) == []


def test_a_purged_account_takes_its_passkeys_and_challenges(
    service: Service, passkeys: SqlPasskeys
) -> None:
    passkeys.add_passkey(passkey())
    passkeys.add_challenge("r" * 64, purpose="register", user_id=ADA, now=NOW, expires_at=LATER)
    store = service.parts.store
    store.delete_user(ADA, now=NOW, mailing=Mailing())
    store.purge_deleted_users(deleted_before=LATER)
    assert passkeys.passkey_by_credential("Y3JlZA") is None
    assert not passkeys.spend_challenge("r" * 64, purpose="register", user_id=ADA, now=NOW)
