"""Passkeys in SQL: WebAuthn credentials and the challenges they answer (core/passkeys.py).

Spending a challenge and moving a counter are conditional updates, so of two concurrent
uses exactly one succeeds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from authgate.core.passkeys import Purpose, StoredPasskey
from authgate.core.store import UserId
from authgate.storage.sql import SqlStore
from authgate.storage.tables import passkeys, webauthn_challenges


class SqlPasskeys:
    """The passkey tables, in the transactions and write lock of a SqlStore."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- challenges -----------------------------------------------------------

    def add_challenge(
        self,
        challenge_hash: str,
        *,
        purpose: Purpose,
        user_id: UserId | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep a new challenge (anyone may ask for one: forget_challenges() keeps the
        expired ones from piling up)."""
        with self._store.writing() as conn:
            conn.execute(
                insert(webauthn_challenges).values(
                    challenge_hash=challenge_hash,
                    purpose=purpose,
                    user_id=user_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def spend_challenge(
        self, challenge_hash: str, *, purpose: Purpose, user_id: UserId | None, now: datetime
    ) -> bool:
        """Use the challenge; False when unknown, used, expired, or another purpose's or
        account's."""
        owner = (
            webauthn_challenges.c.user_id.is_(None)
            if user_id is None
            else webauthn_challenges.c.user_id == user_id
        )
        with self._store.writing() as conn:
            result = conn.execute(
                update(webauthn_challenges)
                .where(
                    webauthn_challenges.c.challenge_hash == challenge_hash,
                    webauthn_challenges.c.purpose == purpose,
                    owner,
                    webauthn_challenges.c.used_at.is_(None),
                    webauthn_challenges.c.expires_at > now,
                )
                .values(used_at=now)
            )
        return bool(result.rowcount == 1)

    def forget_challenges(self, *, expired_before: datetime) -> int:
        """Delete the challenges that expired before then, used or not; return how many."""
        expired = webauthn_challenges.c.expires_at < expired_before
        found = select(webauthn_challenges.c.challenge_hash).where(expired).limit(1)
        with self._store.reading() as conn:  # most polls find none: no write lock for them
            if conn.execute(found).first() is None:
                return 0
        with self._store.writing() as conn:
            return int(conn.execute(delete(webauthn_challenges).where(expired)).rowcount)

    # -- passkeys -------------------------------------------------------------

    def add_passkey(self, passkey: StoredPasskey) -> bool:
        """Store it; False when its credential id is registered already (to anyone)."""
        try:
            with self._store.writing() as conn:
                conn.execute(
                    insert(passkeys).values(
                        id=passkey.id,
                        user_id=passkey.user_id,
                        credential_id=passkey.credential_id,
                        public_key=passkey.public_key,
                        sign_count=passkey.sign_count,
                        transports=" ".join(passkey.transports),
                        backup_eligible=passkey.backup_eligible,
                        backup_state=passkey.backup_state,
                        name=passkey.name,
                        aaguid=passkey.aaguid,
                        created_at=passkey.created_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def passkeys(self, user_id: UserId) -> list[StoredPasskey]:
        query = (
            select(passkeys)
            .where(passkeys.c.user_id == user_id)
            .order_by(passkeys.c.created_at, passkeys.c.id)
        )
        with self._store.reading() as conn:
            return [_passkey(row) for row in conn.execute(query)]

    def has_passkey(self, user_id: UserId) -> bool:
        query = select(exists().where(passkeys.c.user_id == user_id))
        with self._store.reading() as conn:
            return bool(conn.execute(query).scalar_one())

    def passkey_by_credential(self, credential_id: str) -> StoredPasskey | None:
        query = select(passkeys).where(passkeys.c.credential_id == credential_id)
        with self._store.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else _passkey(row)

    def rename_passkey(self, user_id: UserId, passkey_id: str, name: str) -> StoredPasskey | None:
        mine = and_(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
        with self._store.writing() as conn:
            if conn.execute(update(passkeys).where(mine).values(name=name)).rowcount != 1:
                return None
            return _passkey(conn.execute(select(passkeys).where(mine)).one())

    def remove_passkey(self, user_id: UserId, passkey_id: str) -> bool:
        with self._store.writing() as conn:
            result = conn.execute(
                delete(passkeys).where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
            )
        return bool(result.rowcount == 1)

    def remove_passkeys(self, user_id: UserId) -> int:
        with self._store.writing() as conn:
            return int(conn.execute(delete(passkeys).where(passkeys.c.user_id == user_id)).rowcount)

    def record_use(
        self,
        passkey_id: str,
        *,
        sign_count_before: int,
        sign_count: int,
        backup_state: bool,
        now: datetime,
    ) -> bool:
        """Move the counter on from `sign_count_before` (core checked that it goes forward, or
        stays 0 for an authenticator without one); False when another use moved it first."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(passkeys)
                .where(passkeys.c.id == passkey_id, passkeys.c.sign_count == sign_count_before)
                .values(sign_count=sign_count, backup_state=backup_state, last_used_at=now)
            )
        return bool(result.rowcount == 1)


def _passkey(row: Row[Any]) -> StoredPasskey:
    return StoredPasskey(
        id=row.id,
        user_id=UserId(row.user_id),
        credential_id=row.credential_id,
        public_key=bytes(row.public_key),
        sign_count=int(row.sign_count),
        transports=tuple(row.transports.split()),
        backup_eligible=bool(row.backup_eligible),
        backup_state=bool(row.backup_state),
        name=row.name,
        aaguid=row.aaguid,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )
