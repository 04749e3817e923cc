"""The SqlStore contract: atomic refresh-token rotation, schema migrations, SQLite setup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from authgate.core.sessions import hash_refresh_token, new_refresh_token
from authgate.core.store import RefreshRecord, Session, SessionId, User, UserId
from authgate.service import Service
from authgate.storage.schema import schema_state, upgrade
from authgate.storage.sql import SqlStore

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(service: Service) -> SqlStore:
    store: SqlStore = service.parts.store
    return store


@pytest.fixture
def user(store: SqlStore) -> User:
    user = User(
        id=UserId("user-1"), email="ada@example.com", password_hash="$argon2id$x", created_at=NOW
    )
    store.add_user(user)
    return user


def start_session(store: SqlStore, user: User, session_id: str = "session-1") -> str:
    """Store a session with its first refresh token; return that token's hash."""
    session = Session(
        id=SessionId(session_id),
        user_id=user.id,
        created_at=NOW,
        last_used_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )
    token_hash = hash_refresh_token(new_refresh_token())
    assert store.start_session(session, token_hash, password_hash=user.password_hash) == []
    return token_hash


def found(store: SqlStore, token_hash: str) -> RefreshRecord:
    record = store.find_refresh_token(token_hash)
    assert record is not None
    return record


def stored_user(store: SqlStore, user_id: UserId) -> User:
    user = store.user_by_id(user_id)
    assert user is not None
    return user


def rotate(
    store: SqlStore,
    token_hash: str,
    successor: str,
    *,
    now: datetime = NOW,
    sealed: bytes | None = None,
) -> bool:
    return store.rotate_refresh_token(token_hash, successor, sealed_successor=sealed, now=now)


def successor_hash() -> str:
    return hash_refresh_token(new_refresh_token())


def test_rotation_succeeds_for_an_unused_token(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)

    assert rotate(store, token_hash, successor_hash()) is True


def test_second_rotation_of_the_same_token_fails(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)
    rotate(store, token_hash, successor_hash())

    assert rotate(store, token_hash, successor_hash()) is False


def test_rotation_marks_the_token_used_and_stores_its_successor(
    store: SqlStore, user: User
) -> None:
    token_hash = start_session(store, user)
    successor = successor_hash()
    later = NOW + timedelta(minutes=5)

    rotate(store, token_hash, successor, now=later)

    old, new = found(store, token_hash), found(store, successor)
    assert (old.used_at, new.used_at, new.session.id, new.session.last_used_at) == (
        later,
        None,
        "session-1",
        later,
    )


def test_failed_rotation_stores_no_successor(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)
    rotate(store, token_hash, successor_hash())
    rejected = successor_hash()

    rotate(store, token_hash, rejected)

    assert store.find_refresh_token(rejected) is None


def test_rotation_fails_once_the_session_was_ended(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)
    store.end_session(SessionId("session-1"), now=NOW, reason="signed_out")

    assert rotate(store, token_hash, successor_hash()) is False


def test_rotation_of_an_unknown_token_fails(store: SqlStore, user: User) -> None:
    assert rotate(store, successor_hash(), successor_hash()) is False


def test_exactly_one_of_twenty_concurrent_rotations_succeeds(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)
    successors = [successor_hash() for _ in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda s: rotate(store, token_hash, s), successors))

    assert sorted(results) == [False] * 19 + [True]


def test_the_current_refresh_token_is_the_sessions_unused_one(store: SqlStore, user: User) -> None:
    token_hash = start_session(store, user)
    assert store.current_refresh_token(SessionId("session-1")) == token_hash
    successor = successor_hash()

    rotate(store, token_hash, successor)

    assert store.current_refresh_token(SessionId("session-1")) == successor


def test_an_ended_session_has_no_current_refresh_token(store: SqlStore, user: User) -> None:
    start_session(store, user)
    store.end_session(SessionId("session-1"), now=NOW, reason="signed_out")

    assert store.current_refresh_token(SessionId("session-1")) is None


def test_ending_a_session_twice_reports_it_was_already_ended(store: SqlStore, user: User) -> None:
    start_session(store, user)
    store.end_session(SessionId("session-1"), now=NOW, reason="signed_out")

    assert store.end_session(SessionId("session-1"), now=NOW, reason="signed_out") is False


def test_schema_is_current_once_the_service_opened_a_new_file(service: Service) -> None:
    assert schema_state(service.parts.engine) == "current"


def test_upgrading_a_current_schema_twice_changes_nothing(
    service: Service, store: SqlStore, user: User
) -> None:
    upgrade(service.parts.engine)
    upgrade(service.parts.engine)

    assert (schema_state(service.parts.engine), store.user_by_id(user.id)) == ("current", user)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_file_is_in_wal_mode(service: Service) -> None:
    with service.parts.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()

    assert mode == "wal"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_enforces_foreign_keys(service: Service) -> None:
    with service.parts.engine.connect() as conn:
        enabled = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()

    assert enabled == 1


@pytest.mark.parametrize(
    "created_at",
    [
        pytest.param(datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), id="utc"),
        pytest.param(
            datetime(2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), id="utc-plus-2"
        ),
        pytest.param(
            datetime(2029, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-12, minutes=-30))),
            id="utc-minus-12-30",
        ),
    ],
)
def test_datetimes_come_back_as_the_same_instant_in_utc(
    store: SqlStore, created_at: datetime
) -> None:
    store.add_user(
        User(id=UserId("u"), email="a@example.com", password_hash="h", created_at=created_at)
    )

    stored = stored_user(store, UserId("u")).created_at

    assert (stored, stored.tzinfo) == (created_at, UTC)


def test_a_missing_datetime_comes_back_as_none(store: SqlStore, user: User) -> None:
    assert stored_user(store, user.id).disabled_at is None


def test_the_schema_module_knows_the_head_and_every_revision_alembic_ships() -> None:
    from authgate.storage.schema import HEAD_REVISION, KNOWN_REVISIONS, migration_revisions

    assert migration_revisions() == (HEAD_REVISION, KNOWN_REVISIONS)


@pytest.mark.parametrize(
    ("revision", "state"), [("9999", "ahead"), ("0005", "current"), ("0004", "behind")]
)
def test_schema_state_reads_the_recorded_revision(
    service: Service, revision: str, state: str
) -> None:
    from sqlalchemy import text

    from authgate.storage.schema import schema_state

    with service.parts.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    assert schema_state(service.parts.engine) == state


def new_session(user: User, session_id: str = "session-2") -> Session:
    return Session(
        id=SessionId(session_id),
        user_id=user.id,
        created_at=NOW,
        last_used_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )


def test_a_session_starts_for_an_enabled_user_with_the_hash_that_was_checked(
    store: SqlStore, user: User
) -> None:
    started = store.start_session(new_session(user), successor_hash(), password_hash="$argon2id$x")

    assert started == []  # started, and no other session ended
    assert store.get_session(SessionId("session-2")) is not None


def test_no_session_starts_for_a_user_disabled_since_it_was_read(
    store: SqlStore, user: User
) -> None:
    store.set_disabled(user.id, at=NOW)
    token_hash = successor_hash()

    started = store.start_session(new_session(user), token_hash, password_hash="$argon2id$x")

    assert started is None
    assert store.get_session(SessionId("session-2")) is None
    assert store.find_refresh_token(token_hash) is None


def test_no_session_starts_once_the_password_changed_since_it_was_checked(
    store: SqlStore, user: User
) -> None:
    store.set_password_hash(user.id, "$argon2id$new")

    started = store.start_session(new_session(user), successor_hash(), password_hash="$argon2id$x")

    assert started is None
    assert store.get_session(SessionId("session-2")) is None


def test_a_rehash_does_not_overwrite_a_password_set_meanwhile(store: SqlStore, user: User) -> None:
    store.set_password_hash(user.id, "$argon2id$set-by-the-operator")

    replaced = store.replace_password_hash(user.id, "$argon2id$x", "$argon2id$rehash")

    assert replaced is False
    assert stored_user(store, user.id).password_hash == "$argon2id$set-by-the-operator"


def test_rotation_keeps_only_the_newest_sealed_successor_of_a_session(
    store: SqlStore, user: User
) -> None:
    first = start_session(store, user)
    second = successor_hash()
    rotate(store, first, second, sealed=b"sealed second")
    rotate(store, second, successor_hash(), sealed=b"sealed third")

    assert (found(store, first).sealed_successor, found(store, second).sealed_successor) == (
        None,
        b"sealed third",
    )


def test_sealed_successors_are_erased_once_their_window_has_passed(
    store: SqlStore, user: User
) -> None:
    token_hash = start_session(store, user)
    rotate(store, token_hash, successor_hash(), sealed=b"sealed")

    kept = store.forget_successors(used_before=NOW)
    erased = store.forget_successors(used_before=NOW + timedelta(seconds=1))

    assert (kept, erased, found(store, token_hash).sealed_successor) == (0, 1, None)
