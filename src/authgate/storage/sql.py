"""SqlStore: the core's store Protocols over SQLAlchemy Core (tables in storage/tables.py).

Why one module of about 500 lines: SqlStore is one object, because the four Protocols it
implements (UserStore, SessionStore, KeyStore, AuditLog) share one engine and, on SQLite,
one write lock that must serialise all of them. Its sections follow the Protocols.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    LargeBinary,
    Row,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from authgate.core.links import LinkToken, Purpose
from authgate.core.store import (
    SESSION_LIMIT,
    AuditEvent,
    Mailing,
    RefreshRecord,
    Session,
    SessionId,
    StoredKey,
    User,
    UserId,
)
from authgate.core.users import email_key
from authgate.errors import EmailTaken
from authgate.storage.engine import create_lean_engine, dialect_of, insert_or_skip, lock_table
from authgate.storage.outbox import link_token, spend_link, void_links, write_mailing
from authgate.storage.tables import (
    audit_events,
    link_tokens,
    outbox,
    refresh_tokens,
    server_secrets,
    sessions,
    signing_keys,
    totp_factors,
    users,
)

NO_MAIL = Mailing()
# Links that an address change voids: pending changes, and links sent to the old address.
ABOUT_THE_ADDRESS = (Purpose.CHANGE_EMAIL, Purpose.VERIFY_EMAIL, Purpose.RESET_PASSWORD)
UNUSABLE_PASSWORD = "!"  # noqa: S105 - no password matches it: every check of it fails
# Every value sealed with the key-encryption key, as (table, primary key, value): what
# `seal_secrets` seals anew at startup. Refresh-token successors are sealed too, but under a
# key only the presented token derives (core/sessions.py), never the KEK.
SEALED_VALUES = (
    (signing_keys, signing_keys.c.kid, signing_keys.c.material),
    (server_secrets, server_secrets.c.name, server_secrets.c.value),
    (totp_factors, totp_factors.c.user_id, totp_factors.c.secret),
    (outbox, outbox.c.id, outbox.c.body),  # None once delivered
)

# The statements of the hot paths (guarded reads, rotation), built once with bound
# parameters: building and cache-keying a statement costs SQLAlchemy more than SQLite
# takes to run it (a user by id measured ~80 µs built per call, ~40 µs prebuilt). An
# INSERT's or UPDATE's parameters may not take a column's name, hence "presented", "at"…
USER_BY_ID = select(users).where(users.c.id == bindparam("user_id"), users.c.deleted_at.is_(None))
SESSION_BY_ID = select(sessions).where(sessions.c.id == bindparam("session_id"))
LIVE_SESSIONS = select(sessions).where(
    sessions.c.user_id == bindparam("user_id"),
    sessions.c.revoked_at.is_(None),
    sessions.c.expires_at > bindparam("now"),
)
REFRESH_RECORD = (
    select(
        refresh_tokens.c.token_hash,
        refresh_tokens.c.used_at,
        refresh_tokens.c.successor,
        users.c.valid_after.label("user_valid_after"),
        users.c.email.label("user_email"),
        users.c.disabled_at.label("user_disabled_at"),
        users.c.email_verified_at.label("user_email_verified_at"),
        sessions,
    )
    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
    .join(users, users.c.id == sessions.c.user_id)
    .where(refresh_tokens.c.token_hash == bindparam("token_hash"))
)
# Rotation, one transaction: spend the token (if unspent, in a live session) ...
SPEND_REFRESH_TOKEN = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.token_hash == bindparam("presented"),
        refresh_tokens.c.used_at.is_(None),
        refresh_tokens.c.session_id.in_(
            select(sessions.c.id).where(sessions.c.revoked_at.is_(None))
        ),
    )
    .values(used_at=bindparam("at"), successor=bindparam("sealed"))
    .returning(refresh_tokens.c.session_id)
)
# ... erase the session's older sealed successors ...
FORGET_OLDER_SUCCESSORS = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.session_id == bindparam("session"),
        refresh_tokens.c.successor.is_not(None),
        refresh_tokens.c.token_hash != bindparam("presented"),
    )
    .values(successor=None)
)
# ... add the successor, and mark the session used.
ADD_REFRESH_TOKEN = insert(refresh_tokens).values(
    token_hash=bindparam("new_hash"),
    session_id=bindparam("session"),
    created_at=bindparam("at"),
)
TOUCH_SESSION = (
    update(sessions)
    .where(sessions.c.id == bindparam("session"))
    .values(last_used_at=bindparam("at"))
)


class SqlStore:
    """UserStore, SessionStore, KeyStore and AuditLog over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite: a pool without the "begin" hook (storage/engine.py); reads need no BEGIN,
        # and writes send their own BEGIN IMMEDIATE.
        self._lean = create_lean_engine(engine)
        self._begins_itself = self._lean is not engine
        # SQLite has one writer at a time. Threads of this process queue for it here, where
        # the hand-off is immediate, rather than in SQLite's busy handler, which sleeps in
        # growing steps: 16 threads rotating refresh tokens measured 265/s that way and
        # several times more with the lock. Other processes still meet the busy timeout.
        self._write_lock = threading.Lock() if dialect_of(engine) == "sqlite" else None

    def close(self) -> None:
        """Close the lean pool (the engine's owner disposes of the engine)."""
        if self._begins_itself:
            self._lean.dispose()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads, given back on leaving the block (its statements need not
        see one snapshot: on SQLite a read sends no BEGIN).

        The stores of the other tables (storage/outbox.py, factors.py, passkeys.py) read
        through this too, so they share this store's pool.
        """
        with self._lean.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction, committed on leaving the block and rolled back on an error.

        On SQLite it is BEGIN IMMEDIATE, one thread of the process at a time: the stores of
        the other tables write through this too, so every writer queues for the one lock.
        """
        with self._write_lock or contextlib.nullcontext(), self._lean.connect() as conn:
            if not self._begins_itself:
                conn = conn.execution_options(sqlite_write=True)  # the hook's BEGIN IMMEDIATE
            with conn.begin():
                if self._begins_itself:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn

    # The short names this module's own methods use.
    _read = reading
    _write = writing

    def ping(self) -> None:
        """Read a real table: `SELECT 1` alone never touches an SQLite file."""
        with self._read() as conn:
            conn.execute(select(signing_keys.c.kid).limit(1)).all()
            conn.execute(select(users.c.id).limit(1)).all()

    # -- users --------------------------------------------------------------

    def add_user(self, user: User, *, mailing: Mailing = NO_MAIL) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    insert(users).values(
                        id=user.id,
                        email=user.email,
                        email_key=email_key(user.email),
                        password_hash=user.password_hash,
                        created_at=user.created_at,
                        disabled_at=user.disabled_at,
                        valid_after=user.valid_after,
                        email_verified_at=user.email_verified_at,
                    )
                )
                write_mailing(conn, mailing)
        except IntegrityError:
            raise EmailTaken from None

    def add_users(self, new_users: Sequence[User]) -> Sequence[UserId]:
        if not new_users:
            return []
        # INSERT … ON CONFLICT DO NOTHING: a taken id or e-mail key skips that row alone.
        statement = insert_or_skip(self.engine, users).returning(users.c.id)
        rows = [
            {
                "id": user.id,
                "email": user.email,
                "email_key": email_key(user.email),
                "password_hash": user.password_hash,
                "created_at": user.created_at,
                "disabled_at": user.disabled_at,
                "valid_after": user.valid_after,
                "email_verified_at": user.email_verified_at,
            }
            for user in new_users
        ]
        with self._write() as conn:
            return [UserId(user_id) for user_id in conn.execute(statement, rows).scalars()]

    def existing_user_ids(self, ids: Collection[UserId]) -> Collection[UserId]:
        with self._read() as conn:
            found = conn.execute(select(users.c.id).where(users.c.id.in_(list(ids)))).scalars()
            return {UserId(user_id) for user_id in found}

    def user_by_email(self, email: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(users).where(users.c.email_key == email_key(email))).first()
        return _user(row) if row else None

    def user_by_id(self, user_id: UserId) -> User | None:
        with self._read() as conn:
            row = conn.execute(USER_BY_ID, {"user_id": user_id}).first()
        return _user(row) if row else None

    def list_users(self, *, limit: int, offset: int = 0) -> Sequence[User]:
        query = (
            select(users)
            .where(users.c.deleted_at.is_(None))
            .order_by(users.c.created_at, users.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self._read() as conn:
            return [_user(row) for row in conn.execute(query)]

    def set_password_hash(self, user_id: UserId, password_hash: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )
            void_links(conn, user_id, Purpose.RESET_PASSWORD)  # a new password voids resets

    def replace_password_hash(self, user_id: UserId, old: str, new: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.password_hash == old)
                .values(password_hash=new)
            )
        return result.rowcount == 1

    def set_disabled(self, user_id: UserId, *, at: datetime | None) -> None:
        with self._write() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=at))

    def set_valid_after(self, user_id: UserId, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(valid_after=at))

    def users_valid_after_since(self, since: datetime) -> Sequence[tuple[UserId, datetime]]:
        query = select(users.c.id, users.c.valid_after).where(users.c.valid_after >= since)
        with self._read() as conn:
            return [(UserId(row.id), row.valid_after) for row in conn.execute(query)]

    def costliest_bcrypt_hash(self, *, at_most: int) -> str | None:
        cost = func.substr(users.c.password_hash, 5, 2)  # "$2b$10$…": two digits, so text order
        query = (
            select(users.c.password_hash)
            .where(users.c.password_hash.like("$2_$__$%"), cost <= f"{at_most:02d}")
            .order_by(cost.desc())
            .limit(1)
        )
        with self._read() as conn:
            found: str | None = conn.execute(query).scalar()
        return found

    # -- sessions and refresh tokens -----------------------------------------

    def start_session(
        self, session: Session, token_hash: str, *, password_hash: str, max_sessions: int = 0
    ) -> Sequence[SessionId] | None:
        # FOR SHARE (PostgreSQL): a disable or password change waits for this transaction, and
        # its "end every session" then sees the new session; SQLite writes one at a time.
        # Under a session limit the user's own sign-ins must wait for each other too, or two
        # would each count the sessions without the other's and leave one too many: FOR NO
        # KEY UPDATE, which still lets other tables' rows name the user meanwhile.
        still = (
            select(users.c.id)
            .where(
                users.c.id == session.user_id,
                users.c.disabled_at.is_(None),
                users.c.password_hash == password_hash,
            )
            .with_for_update(read=not max_sessions, key_share=bool(max_sessions))
        )
        with self._write() as conn:
            if conn.execute(still).first() is None:
                return None
            conn.execute(
                insert(sessions).values(
                    id=session.id,
                    user_id=session.user_id,
                    created_at=session.created_at,
                    last_used_at=session.last_used_at,
                    expires_at=session.expires_at,
                    ip=session.ip,
                    user_agent=session.user_agent,
                    authenticated_at=session.authenticated_at or session.created_at,
                    amr=" ".join(session.amr) or None,
                )
            )
            conn.execute(
                insert(refresh_tokens).values(
                    token_hash=token_hash, session_id=session.id, created_at=session.created_at
                )
            )
            if not max_sessions:
                return []
            return _end_least_recently_used(conn, session, keep=max_sessions)

    def find_refresh_token(self, token_hash: str) -> RefreshRecord | None:
        with self._read() as conn:
            row = conn.execute(REFRESH_RECORD, {"token_hash": token_hash}).first()
        if row is None:
            return None
        return RefreshRecord(
            token_hash=row.token_hash,
            session=_session(row),
            used_at=row.used_at,
            user_valid_after=row.user_valid_after,
            user_email=row.user_email,
            user_disabled_at=row.user_disabled_at,
            user_email_verified=row.user_email_verified_at is not None,
            sealed_successor=row.successor,
        )

    def rotate_refresh_token(
        self,
        token_hash: str,
        successor_hash: str,
        *,
        sealed_successor: bytes | None,
        now: datetime,
    ) -> bool:
        spent = {"presented": token_hash, "at": now, "sealed": sealed_successor}
        with self._write() as conn:
            session_id = conn.execute(SPEND_REFRESH_TOKEN, spent).scalar_one_or_none()
            if session_id is None:
                return False
            conn.execute(FORGET_OLDER_SUCCESSORS, {"session": session_id, "presented": token_hash})
            conn.execute(
                ADD_REFRESH_TOKEN,
                {"new_hash": successor_hash, "session": session_id, "at": now},
            )
            conn.execute(TOUCH_SESSION, {"session": session_id, "at": now})
            return True

    def current_refresh_token(self, session_id: SessionId) -> str | None:
        query = (
            select(refresh_tokens.c.token_hash)
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .where(
                refresh_tokens.c.session_id == session_id,
                refresh_tokens.c.used_at.is_(None),
                sessions.c.revoked_at.is_(None),
            )
            .order_by(refresh_tokens.c.created_at.desc())
            .limit(1)
        )
        with self._read() as conn:
            found: str | None = conn.execute(query).scalar()
        return found

    def forget_successors(self, *, used_before: datetime) -> int:
        sealed = refresh_tokens.c.successor.is_not(None)
        spent = select(refresh_tokens.c.token_hash).where(
            sealed, refresh_tokens.c.used_at < used_before
        )
        with self._read() as conn:  # most polls find none: no write lock for them
            if conn.execute(spent.limit(1)).first() is None:
                return 0
        with self._write() as conn:
            result = conn.execute(
                update(refresh_tokens)
                .where(sealed, refresh_tokens.c.used_at < used_before)
                .values(successor=None)
            )
        return result.rowcount

    def get_session(self, session_id: SessionId) -> Session | None:
        with self._read() as conn:
            row = conn.execute(SESSION_BY_ID, {"session_id": session_id}).first()
        return _session(row) if row else None

    def live_sessions(self, user_id: UserId, *, now: datetime) -> Sequence[Session]:
        with self._read() as conn:
            found = conn.execute(LIVE_SESSIONS, {"user_id": user_id, "now": now})
            return [_session(row) for row in found]

    def end_session(self, session_id: SessionId, *, now: datetime, reason: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
        return result.rowcount == 1

    def end_user_sessions(
        self, user_id: UserId, *, now: datetime, reason: str
    ) -> Sequence[SessionId]:
        with self._write() as conn:
            return _end_sessions(conn, user_id, now=now, reason=reason)

    def end_all_sessions(self, *, now: datetime, reason: str) -> Sequence[SessionId]:
        with self._write() as conn:
            ended = conn.execute(
                update(sessions)
                .where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
                .values(revoked_at=now, revoked_reason=reason)
                .returning(sessions.c.id)
            ).scalars()
            return [SessionId(sid) for sid in ended]

    def reauthenticate_session(
        self, session_id: SessionId, *, at: datetime, amr: tuple[str, ...]
    ) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(authenticated_at=at, amr=" ".join(amr))
            )
        return bool(result.rowcount == 1)

    def sessions_revoked_since(self, since: datetime) -> Sequence[tuple[SessionId, datetime]]:
        query = select(sessions.c.id, sessions.c.revoked_at).where(sessions.c.revoked_at >= since)
        with self._read() as conn:
            return [(SessionId(row.id), row.revoked_at) for row in conn.execute(query)]

    # -- accounts by e-mail (DESIGN §8): each change one transaction with its mail --

    def add_mailing(self, mailing: Mailing) -> None:
        with self._write() as conn:
            write_mailing(conn, mailing)

    def find_link(self, token_hash: str) -> LinkToken | None:
        with self._read() as conn:
            row = conn.execute(
                select(link_tokens).where(link_tokens.c.token_hash == token_hash)
            ).first()
        return link_token(row) if row else None

    def verify_email(self, token_hash: str, *, now: datetime) -> UserId | None:
        with self._write() as conn:
            link = spend_link(conn, token_hash, Purpose.VERIFY_EMAIL, now=now)
            if link is None:
                return None
            # Only the address the link was sent to: not one changed to since.
            conn.execute(
                update(users)
                .where(users.c.id == link.user_id, users.c.email_key == email_key(link.email))
                .values(email_verified_at=func.coalesce(users.c.email_verified_at, now))
            )
            return link.user_id

    def set_email_verified(self, user_id: UserId, *, at: datetime | None) -> None:
        with self._write() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(email_verified_at=at))

    def reset_password(
        self, token_hash: str, password_hash: str, *, now: datetime, mailing: Mailing
    ) -> Sequence[SessionId] | None:
        with self._write() as conn:
            link = spend_link(conn, token_hash, Purpose.RESET_PASSWORD, now=now)
            if link is None:
                return None
            void_links(conn, link.user_id, Purpose.RESET_PASSWORD)
            # The link proved the address too, if it is still the account's.
            conn.execute(
                update(users)
                .where(users.c.id == link.user_id)
                .values(
                    password_hash=password_hash,
                    valid_after=now,
                    email_verified_at=case_verified(link.email, now),
                )
            )
            ended = _end_sessions(conn, link.user_id, now=now, reason="password_reset")
            write_mailing(conn, mailing)
            return ended

    def change_password(
        self,
        user_id: UserId,
        password_hash: str,
        *,
        now: datetime,
        keep: SessionId | None,
        end_others: bool,
        mailing: Mailing,
    ) -> Sequence[SessionId]:
        with self._write() as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )
            void_links(conn, user_id, Purpose.RESET_PASSWORD)
            ended: Sequence[SessionId] = []
            if end_others:
                ended = _end_sessions(conn, user_id, now=now, reason="password_changed", keep=keep)
            write_mailing(conn, mailing)
            return ended

    def change_email(
        self, token_hash: str, *, now: datetime, mailing: Mailing
    ) -> tuple[UserId, str] | None:
        try:
            with self._write() as conn:
                link = spend_link(conn, token_hash, Purpose.CHANGE_EMAIL, now=now)
                if link is None:
                    return None
                old = conn.execute(
                    select(users.c.email).where(users.c.id == link.user_id)
                ).scalar_one()
                conn.execute(
                    update(users)
                    .where(users.c.id == link.user_id)
                    .values(
                        email=link.email, email_key=email_key(link.email), email_verified_at=now
                    )
                )
                void_links(conn, link.user_id, *ABOUT_THE_ADDRESS)
                write_mailing(conn, mailing)
                return link.user_id, old
        except IntegrityError:
            raise EmailTaken from None

    def revert_email(
        self, token_hash: str, *, now: datetime, mailing: Mailing
    ) -> tuple[UserId, Sequence[SessionId]] | None:
        try:
            with self._write() as conn:
                link = spend_link(conn, token_hash, Purpose.REVERT_EMAIL, now=now)
                if link is None:
                    return None
                void_links(conn, link.user_id, *ABOUT_THE_ADDRESS, Purpose.REVERT_EMAIL)
                conn.execute(
                    update(users)
                    .where(users.c.id == link.user_id)
                    .values(
                        email=link.email,
                        email_key=email_key(link.email),
                        email_verified_at=now,
                        password_hash=UNUSABLE_PASSWORD,
                        valid_after=now,
                    )
                )
                ended = _end_sessions(conn, link.user_id, now=now, reason="email_change_reverted")
                write_mailing(conn, mailing)
                return link.user_id, ended
        except IntegrityError:
            raise EmailTaken from None

    def delete_user(
        self, user_id: UserId, *, now: datetime, mailing: Mailing
    ) -> Sequence[SessionId]:
        with self._write() as conn:
            ended = _end_sessions(conn, user_id, now=now, reason="account_deleted")
            conn.execute(
                update(sessions)
                .where(sessions.c.user_id == user_id)
                .values(ip=None, user_agent=None)
            )
            conn.execute(
                delete(refresh_tokens).where(
                    refresh_tokens.c.session_id.in_(
                        select(sessions.c.id).where(sessions.c.user_id == user_id)
                    )
                )
            )
            conn.execute(delete(link_tokens).where(link_tokens.c.user_id == user_id))
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    email="",
                    email_key="deleted:" + user_id,  # no address has no "@"
                    password_hash=UNUSABLE_PASSWORD,
                    disabled_at=now,
                    valid_after=now,
                    email_verified_at=None,
                    deleted_at=now,
                )
            )
            write_mailing(conn, mailing)
            return ended

    def purge_deleted_users(self, *, deleted_before: datetime) -> int:
        gone = users.c.deleted_at < deleted_before
        with self._read() as conn:  # most polls find none: no write lock for them
            if conn.execute(select(users.c.id).where(gone).limit(1)).first() is None:
                return 0
        with self._write() as conn:
            doomed = select(users.c.id).where(gone)
            sessions_of = select(sessions.c.id).where(sessions.c.user_id.in_(doomed))
            conn.execute(delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(sessions_of)))
            conn.execute(delete(sessions).where(sessions.c.user_id.in_(doomed)))
            return conn.execute(delete(users).where(gone)).rowcount

    # -- keys ---------------------------------------------------------------

    def signing_keys(self) -> Sequence[StoredKey]:
        query = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        with self._read() as conn:
            return [
                StoredKey(
                    kid=row.kid,
                    alg=row.alg,
                    material=row.material,
                    sealed=row.sealed,
                    created_at=row.created_at,
                    retired_at=row.retired_at,
                    activates_at=row.activates_at,
                )
                for row in conn.execute(query)
            ]

    def add_first_signing_key(self, key: StoredKey) -> bool:
        live = select(signing_keys.c.kid).where(
            signing_keys.c.alg == key.alg, signing_keys.c.retired_at.is_(None)
        )
        with self._write() as conn:
            lock_table(conn, "signing_keys")
            if conn.execute(live.limit(1)).first() is not None:
                return False
            conn.execute(insert(signing_keys).values(**_key_values(key)))
            return True

    def add_next_signing_key(self, key: StoredKey, *, retire_others_at: datetime) -> None:
        with self._write() as conn:
            lock_table(conn, "signing_keys")
            conn.execute(
                update(signing_keys)
                .where(
                    signing_keys.c.retired_at.is_(None)
                    | (signing_keys.c.retired_at > retire_others_at)
                )
                .values(retired_at=retire_others_at)
            )
            conn.execute(insert(signing_keys).values(**_key_values(key)))

    def server_secret(self, name: str, *, candidate: bytes, sealed: bool) -> tuple[bytes, bool]:
        query = select(server_secrets).where(server_secrets.c.name == name)
        with self._write() as conn:
            lock_table(conn, "server_secrets")
            row = conn.execute(query).first()
            if row is None:
                conn.execute(
                    insert(server_secrets).values(name=name, value=candidate, sealed=sealed)
                )
                return candidate, sealed
            return row.value, row.sealed

    def unsealed_secrets(self) -> int:
        """How many signing keys and server secrets are stored in clear."""
        with self._read() as conn:
            return sum(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.sealed.is_(False))
                ).scalar_one()
                for table in (signing_keys, server_secrets)
            )

    def seal_secrets(self, seal: Callable[[bytes, bool], bytes], *, current: bytes) -> int:
        """Seal anew every stored secret that is not sealed as `current` says; return how many.

        `current` is how values sealed under the current key in the current format begin
        (core/keys.py `sealed_prefix`). Every other value of `SEALED_VALUES`, in clear, in
        an older format or under a previous key, becomes `seal(value, sealed)`: all in one
        transaction, so a value that does not open leaves every row as it was.
        """
        stale = [
            (table, name, value, _stale(table.c.sealed, value, current))
            for table, name, value in SEALED_VALUES
        ]
        with self._read() as conn:  # most starts find none: no write lock for them
            if not any(
                conn.execute(select(name).where(where).limit(1)).first()
                for _, name, _, where in stale
            ):
                return 0
        sealed = 0
        with self._write() as conn:
            for table, name, value, where in stale:
                lock_table(conn, table.name)
                rows = conn.execute(select(name, value, table.c.sealed).where(where)).all()
                for row_name, row_value, row_sealed in rows:
                    conn.execute(
                        update(table)
                        .where(name == row_name)
                        .values({value: seal(bytes(row_value), row_sealed), table.c.sealed: True})
                    )
                sealed += len(rows)
        return sealed

    # -- audit --------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        with self._write() as conn:
            conn.execute(
                insert(audit_events).values(
                    at=event.at,
                    kind=event.kind,
                    user_id=event.user_id,
                    session_id=event.session_id,
                    ip=event.ip,
                    detail=json.dumps(dict(event.detail)) if event.detail else None,
                )
            )

    def audit_events(
        self, *, user_id: UserId | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(audit_events.c.user_id == user_id)
        with self._read() as conn:
            return [
                AuditEvent(
                    kind=row.kind,
                    at=row.at,
                    user_id=row.user_id,
                    session_id=row.session_id,
                    ip=row.ip,
                    detail=json.loads(row.detail) if row.detail else None,
                )
                for row in conn.execute(query)
            ]


def _end_sessions(
    conn: Connection,
    user_id: UserId,
    *,
    now: datetime,
    reason: str,
    keep: SessionId | None = None,
) -> Sequence[SessionId]:
    """Revoke the user's live sessions (but `keep`) in the caller's transaction."""
    query = (
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(sessions.c.id)
    )
    if keep is not None:
        query = query.where(sessions.c.id != keep)
    return [SessionId(sid) for sid in conn.execute(query).scalars()]


def _end_least_recently_used(conn: Connection, new: Session, *, keep: int) -> Sequence[SessionId]:
    """End the user's live sessions but `new` and the `keep - 1` most recently used others,
    in the caller's transaction; return their ids."""
    now = new.created_at
    beyond = (
        select(sessions.c.id)
        .where(
            sessions.c.user_id == new.user_id,
            sessions.c.id != new.id,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
        )
        .order_by(sessions.c.last_used_at.desc(), sessions.c.created_at.desc())
        .offset(keep - 1)
    )
    ended = conn.execute(
        update(sessions)
        .where(sessions.c.id.in_(beyond))
        .values(revoked_at=now, revoked_reason=SESSION_LIMIT)
        .returning(sessions.c.id)
    ).scalars()
    return [SessionId(sid) for sid in ended]


def case_verified(address: str, now: datetime) -> Any:
    """email_verified_at after a link to `address` was used: now, if it is still the account's."""
    return case(
        (users.c.email_key == email_key(address), func.coalesce(users.c.email_verified_at, now)),
        else_=users.c.email_verified_at,
    )


def _stale(
    sealed: ColumnElement[bool], value: ColumnElement[bytes], current: bytes
) -> ColumnElement[bool]:
    """A value in clear, or sealed but not beginning with `current`: compared in SQL, so a
    start reads only the values it must seal anew, not every TOTP secret of every user."""
    head = func.substr(value, 1, len(current), type_=LargeBinary)
    return value.is_not(None) & (sealed.is_(False) | (head != current))


def _key_values(key: StoredKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "material": key.material,
        "sealed": key.sealed,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "activates_at": key.activates_at,
    }


def _user(row: Row[Any]) -> User:
    return User(
        id=UserId(row.id),
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        valid_after=row.valid_after,
        email_verified_at=row.email_verified_at,
    )


def _session(row: Row[Any]) -> Session:
    return Session(
        id=SessionId(row.id),
        user_id=UserId(row.user_id),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        ip=row.ip,
        user_agent=row.user_agent,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        authenticated_at=row.authenticated_at,
        amr=tuple(row.amr.split()) if row.amr else (),
    )
