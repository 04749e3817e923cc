"""The account-mail part of the SqlStore contract, on every database: each change is one
transaction with its links and letters, and a link is spent exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from authgate.core.letters import Letter, pack
from authgate.core.links import LinkToken, Purpose, hash_link_token, new_link_token
from authgate.core.store import Mailing, User, UserId
from authgate.errors import EmailTaken
from authgate.service import Service
from authgate.storage.outbox import SqlOutbox
from authgate.storage.sql import SqlStore
from authgate.storage.tables import outbox

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(service: Service) -> SqlStore:
    store: SqlStore = service.parts.store
    return store


def new_user(store: SqlStore, email: str = "ada@example.com", user_id: str = "user-1") -> User:
    user = User(id=UserId(user_id), email=email, password_hash="$argon2id$x", created_at=NOW)
    store.add_user(user)
    return user


def link(user: User, purpose: Purpose, *, email: str | None = None) -> tuple[str, LinkToken]:
    token = new_link_token()
    return token, LinkToken(
        token_hash=hash_link_token(token),
        user_id=user.id,
        purpose=purpose,
        email=email or user.email,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )


def envelope(to: str = "ada@example.com") -> Mailing:
    letter = Letter("verify_email", to, "subject", "text", "<p>html</p>")
    return Mailing((), [pack(letter, now=NOW, key_encryption_key=None)])


def outbox_size(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(outbox.c.id)).all())


def test_a_refused_sign_up_stores_no_mail(store: SqlStore) -> None:
    new_user(store)
    twin = User(UserId("user-2"), "ADA@example.com", "$argon2id$y", NOW)
    with pytest.raises(EmailTaken):
        store.add_user(twin, mailing=envelope())
    assert outbox_size(store) == 0


def test_a_sign_up_stores_its_mail_with_it(store: SqlStore) -> None:
    user = User(UserId("user-1"), "ada@example.com", "$argon2id$x", NOW)
    token, verify = link(user, Purpose.VERIFY_EMAIL)
    mailing = envelope()
    store.add_user(user, mailing=Mailing([verify], mailing.envelopes))
    assert outbox_size(store) == 1
    assert store.find_link(hash_link_token(token)) == verify


def test_of_concurrent_spends_of_one_link_exactly_one_wins(store: SqlStore) -> None:
    user = new_user(store)
    _, verify = link(user, Purpose.VERIFY_EMAIL)
    store.add_mailing(Mailing([verify], ()))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.verify_email(verify.token_hash, now=NOW), range(8)))
    assert results.count(user.id) == 1
    assert results.count(None) == 7


def test_an_address_taken_meanwhile_changes_nothing(store: SqlStore) -> None:
    user = new_user(store)
    new_user(store, "bob@example.com", "user-2")
    _, change = link(user, Purpose.CHANGE_EMAIL, email="BOB@example.com")
    store.add_mailing(Mailing([change], ()))
    with pytest.raises(EmailTaken):
        store.change_email(change.token_hash, now=NOW, mailing=envelope())
    assert store.user_by_id(user.id).email == "ada@example.com"  # type: ignore[union-attr]
    found = store.find_link(change.token_hash)
    assert found is not None
    assert found.used_at is None  # still usable, should the address be freed
    assert outbox_size(store) == 0


def test_a_new_password_voids_reset_links_only(store: SqlStore) -> None:
    user = new_user(store)
    _, reset = link(user, Purpose.RESET_PASSWORD)
    _, verify = link(user, Purpose.VERIFY_EMAIL)
    store.add_mailing(Mailing([reset, verify], ()))
    store.set_password_hash(user.id, "$argon2id$new")
    assert store.find_link(reset.token_hash) is None
    assert store.find_link(verify.token_hash) is not None


def test_a_deleted_account_leaves_a_tombstone_then_nothing(store: SqlStore) -> None:
    user = new_user(store)
    _, verify = link(user, Purpose.VERIFY_EMAIL)
    store.add_mailing(Mailing([verify], ()))
    store.delete_user(user.id, now=NOW, mailing=envelope())
    assert store.user_by_id(user.id) is None
    assert store.user_by_email("ada@example.com") is None
    assert store.find_link(verify.token_hash) is None
    assert [u.id for u in store.list_users(limit=10)] == []
    assert store.purge_deleted_users(deleted_before=NOW) == 0
    assert store.purge_deleted_users(deleted_before=NOW + timedelta(seconds=1)) == 1
    new_user(store)  # the address is free again


def test_two_claimers_never_share_an_envelope(store: SqlStore) -> None:
    mailing = Mailing((), [envelope().envelopes[0] for _ in range(1)])
    letters = [
        pack(
            Letter("verify_email", f"u{i}@example.com", "s", "t", "h"),
            now=NOW,
            key_encryption_key=None,
        )
        for i in range(60)
    ]
    store.add_mailing(Mailing((), letters))
    del mailing
    box = SqlOutbox(store)
    with ThreadPoolExecutor(4) as pool:
        batches = list(
            pool.map(lambda _: box.claim(now=NOW, lease=timedelta(minutes=2), limit=10), range(12))
        )
    claimed = [env.id for batch in batches for env, _ in batch]
    assert len(claimed) == len(set(claimed)) == 60
