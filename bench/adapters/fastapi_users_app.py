"""Peer: fastapi-users' `current_user(active=True)`, its JWTStrategy (RS256) and Bearer transport.

As its documentation sets it up: SQLAlchemy's async engine on SQLite (aiosqlite), a
session and a SQLAlchemyUserDatabase per request, and a UserManager. For every request it
verifies the token (PyJWT; signature, `exp`, `aud`) and then loads the user from the
database by the token's `sub` and checks that the user is active: a disabled or deleted
user is refused at once. There is no other revocation: a token of a signed-out user stays
valid until its `exp`.

    BENCH_ADAPTERS_DIR=... uvicorn --app-dir bench/adapters fastapi_users_app:app
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from material import folder, private_pem, public_pem
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
LIFETIME = 3600


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


engine = create_async_engine(f"sqlite+aiosqlite:///{folder() / 'fastapi_users.db'}")
session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with session_maker() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = "unused-in-this-benchmark"
    verification_token_secret = "unused-in-this-benchmark"


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(
        secret=private_pem(), lifetime_seconds=LIFETIME, algorithm="RS256", public_key=public_pem()
    )


auth_backend = AuthenticationBackend(
    name="jwt",
    transport=BearerTransport(tokenUrl="auth/jwt/login"),
    get_strategy=get_jwt_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)

app = FastAPI()


@app.get("/open")
async def open_route() -> dict[str, str]:
    return {"sub": "anonymous"}


@app.get("/guarded")
async def guarded(user: Annotated[User, Depends(current_active_user)]) -> dict[str, str]:
    return {"sub": str(user.id)}


async def token() -> str:
    """Create the database and its one user (first call only); a token for that user."""
    from fastapi_users.password import PasswordHelper
    from material import EMAIL, PASSWORD

    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with session_maker() as session:
        user = await session.get(User, USER_ID)
        if user is None:
            user = User(
                id=USER_ID,
                email=EMAIL,
                hashed_password=PasswordHelper().hash(PASSWORD),
                is_active=True,
                is_verified=True,
            )
            session.add(user)
            await session.commit()
    await engine.dispose()
    return await get_jwt_strategy().write_token(user)
