"""Second factors in SQL: TOTP secrets, recovery codes and MFA challenges (core/factors.py).

Every "use once" is a conditional update, so of two concurrent uses exactly one succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from authgate.core.factors import StoredChallenge, StoredTotp
from authgate.core.store import UserId
from authgate.storage.sql import SqlStore
from authgate.storage.tables import mfa_challenges, recovery_codes, totp_factors


class SqlFactors:
    """The factor tables, in the transactions and write lock of a SqlStore."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- TOTP -----------------------------------------------------------------

    def totp(self, user_id: UserId) -> StoredTotp | None:
        with self._store.reading() as conn:
            row = conn.execute(
                select(totp_factors).where(totp_factors.c.user_id == user_id)
            ).first()
        if row is None:
            return None
        return StoredTotp(
            UserId(row.user_id),
            bytes(row.secret),
            row.sealed,
            row.created_at,
            row.confirmed_at,
            row.last_step,
        )

    def begin_totp(self, user_id: UserId, secret: bytes, *, sealed: bool, now: datetime) -> bool:
        """Store a new, unconfirmed secret (replacing an unconfirmed one); False if confirmed."""
        with self._store.writing() as conn:
            confirmed = conn.execute(
                select(totp_factors.c.user_id).where(
                    totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_not(None)
                )
            ).first()
            if confirmed is not None:
                return False
            conn.execute(delete(totp_factors).where(totp_factors.c.user_id == user_id))
            conn.execute(
                insert(totp_factors).values(
                    user_id=user_id, secret=secret, sealed=sealed, created_at=now
                )
            )
            return True

    def confirm_totp(
        self, user_id: UserId, *, step: int, now: datetime, code_hashes: Sequence[str]
    ) -> bool:
        """Activate the unconfirmed secret with its first code's step, and its recovery codes."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(totp_factors)
                .where(totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_(None))
                .values(confirmed_at=now, last_step=step)
            )
            if result.rowcount != 1:
                return False
            _replace_codes(conn, user_id, code_hashes, now)
            return True

    def use_step(self, user_id: UserId, step: int) -> bool:
        """Record that `step`'s code was used; False if it (or a later one) was already."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(totp_factors)
                .where(
                    totp_factors.c.user_id == user_id,
                    totp_factors.c.confirmed_at.is_not(None),
                    or_(totp_factors.c.last_step.is_(None), totp_factors.c.last_step < step),
                )
                .values(last_step=step)
            )
        return bool(result.rowcount == 1)

    def remove_totp(self, user_id: UserId) -> bool:
        """Delete the secret and the recovery codes; False when there was no confirmed one."""
        with self._store.writing() as conn:
            result = conn.execute(
                delete(totp_factors).where(
                    totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_not(None)
                )
            )
            conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        return bool(result.rowcount == 1)

    # -- recovery codes -------------------------------------------------------

    def replace_recovery_codes(
        self, user_id: UserId, code_hashes: Sequence[str], *, now: datetime
    ) -> None:
        with self._store.writing() as conn:
            _replace_codes(conn, user_id, code_hashes, now)

    def use_recovery_code(self, user_id: UserId, code_hash: str, *, now: datetime) -> bool:
        with self._store.writing() as conn:
            result = conn.execute(
                update(recovery_codes)
                .where(
                    recovery_codes.c.code_hash == code_hash,
                    recovery_codes.c.user_id == user_id,
                    recovery_codes.c.used_at.is_(None),
                )
                .values(used_at=now)
            )
        return bool(result.rowcount == 1)

    def recovery_codes_left(self, user_id: UserId) -> int:
        query = select(func.count()).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
        )
        with self._store.reading() as conn:
            return int(conn.execute(query).scalar_one())

    # -- the password step of an MFA sign-in ----------------------------------

    def add_challenge(
        self,
        token_hash: str,
        user_id: UserId,
        *,
        password_version: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        with self._store.writing() as conn:
            conn.execute(
                insert(mfa_challenges).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    password_version=password_version,
                    created_at=now,
                    expires_at=expires_at,
                    failures=0,
                )
            )

    def challenge(self, token_hash: str) -> StoredChallenge | None:
        query = select(mfa_challenges).where(mfa_challenges.c.token_hash == token_hash)
        with self._store.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return StoredChallenge(
            row.token_hash,
            UserId(row.user_id),
            row.password_version,
            row.expires_at,
            row.used_at,
            row.failures,
        )

    def spend_challenge(self, token_hash: str, *, now: datetime, max_failures: int) -> bool:
        """Use the challenge; False when used, expired or failed too often meanwhile."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(mfa_challenges)
                .where(
                    mfa_challenges.c.token_hash == token_hash,
                    mfa_challenges.c.used_at.is_(None),
                    mfa_challenges.c.expires_at > now,
                    mfa_challenges.c.failures < max_failures,
                )
                .values(used_at=now)
            )
        return bool(result.rowcount == 1)

    def count_failure(self, token_hash: str) -> None:
        with self._store.writing() as conn:
            conn.execute(
                update(mfa_challenges)
                .where(mfa_challenges.c.token_hash == token_hash)
                .values(failures=mfa_challenges.c.failures + 1)
            )

    def forget_challenges(self, *, expired_before: datetime) -> int:
        """Delete the challenges that expired before then, used or not; return how many."""
        expired = mfa_challenges.c.expires_at < expired_before
        found = select(mfa_challenges.c.token_hash).where(expired).limit(1)
        with self._store.reading() as conn:  # most polls find none: no write lock for them
            if conn.execute(found).first() is None:
                return 0
        with self._store.writing() as conn:
            return int(conn.execute(delete(mfa_challenges).where(expired)).rowcount)


def _replace_codes(
    conn: Connection, user_id: UserId, code_hashes: Sequence[str], now: datetime
) -> None:
    conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    conn.execute(
        insert(recovery_codes),
        [{"code_hash": h, "user_id": user_id, "created_at": now} for h in code_hashes],
    )
