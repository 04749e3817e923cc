"""Peer: a naive FastAPI dependency around PyJWT, as FastAPI's OAuth2-with-JWT tutorial writes it.

`OAuth2PasswordBearer` reads the header, `jwt.decode` checks the RS256 signature and `exp`
(and `aud`, which the token carries). No revocation, no issuer check, no type check. The
public key is loaded once (a key object, not PEM text): the stronger form of this peer.

    BENCH_ADAPTERS_DIR=... uvicorn --app-dir bench/adapters pyjwt_app:app
"""

from __future__ import annotations

from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer
from material import AUDIENCE, SUBJECT, private_pem, public_pem

PUBLIC_KEY = load_pem_public_key(public_pem().encode())
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

app = FastAPI()


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    unauthorized = HTTPException(
        status_code=401,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload: dict[str, Any] = jwt.decode(
            token, PUBLIC_KEY, algorithms=["RS256"], audience=AUDIENCE
        )
    except jwt.InvalidTokenError:
        raise unauthorized from None
    if payload.get("sub") is None:
        raise unauthorized
    return payload


@app.get("/open")
async def open_route() -> dict[str, str]:
    return {"sub": "anonymous"}


@app.get("/guarded")
async def guarded(user: Annotated[dict[str, Any], Depends(get_current_user)]) -> dict[str, str]:
    return {"sub": user["sub"]}


def token() -> str:
    from datetime import UTC, datetime

    from material import TOKEN_LIFETIME

    now = datetime.now(UTC)
    claims = {"sub": SUBJECT, "aud": AUDIENCE, "iat": now, "exp": now + TOKEN_LIFETIME}
    return jwt.encode(claims, private_pem(), algorithm="RS256")
