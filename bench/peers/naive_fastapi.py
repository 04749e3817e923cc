"""The naive FastAPI + PyJWT + bcrypt port of the Express tutorial, a peer in bench/http.

What a Python team would write on a first pass: the tutorial's routes and answers, users
and refresh tokens in memory, HS256 with a string secret, and bcrypt (cost 10) called
straight from `async def` handlers, so every hash blocks the event loop. That last part
is the point of measuring it.

    ACCESS_TOKEN_SECRET=... REFRESH_TOKEN_SECRET=... PORT=8000 python bench/peers/naive_fastapi.py
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import bcrypt
import jwt
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

ACCESS_TOKEN_SECRET = os.environ.get("ACCESS_TOKEN_SECRET") or secrets.token_hex(32)
REFRESH_TOKEN_SECRET = os.environ.get("REFRESH_TOKEN_SECRET") or secrets.token_hex(32)

app = FastAPI()
users: dict[str, bytes] = {}
refresh_tokens: set[str] = set()


class Credentials(BaseModel):
    email: str
    password: str


class RefreshRequest(BaseModel):
    token: str | None = None


def generate_access_token(email: str) -> str:
    expires = datetime.now(UTC) + timedelta(seconds=1800)
    return jwt.encode({"email": email, "exp": expires}, ACCESS_TOKEN_SECRET, algorithm="HS256")


async def authenticate_token(
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    token = authorization.split(" ")[1] if authorization and " " in authorization else None
    if token is None:
        raise HTTPException(status_code=401)
    try:
        claims: dict[str, Any] = jwt.decode(token, ACCESS_TOKEN_SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=403) from None
    return claims


@app.post("/sign-up", status_code=201)
async def sign_up(body: Credentials) -> Response:
    users[body.email] = bcrypt.hashpw(body.password.encode(), bcrypt.gensalt(10))
    return Response(status_code=201)


@app.post("/sign-in")
async def sign_in(body: Credentials) -> Response:
    hashed = users.get(body.email)
    if hashed is None:
        return PlainTextResponse("Cannot find user", status_code=400)
    if not bcrypt.checkpw(body.password.encode(), hashed):
        return PlainTextResponse("Not Allowed", status_code=401)
    access_token = generate_access_token(body.email)
    refresh_token = jwt.encode({"email": body.email}, REFRESH_TOKEN_SECRET, algorithm="HS256")
    refresh_tokens.add(refresh_token)
    return JSONResponse({"accessToken": access_token, "refreshToken": refresh_token})


@app.post("/token")
async def token(body: RefreshRequest) -> Response:
    if body.token is None:
        raise HTTPException(status_code=401)
    if body.token not in refresh_tokens:
        raise HTTPException(status_code=403)
    try:
        claims = jwt.decode(body.token, REFRESH_TOKEN_SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=403) from None
    return JSONResponse({"accessToken": generate_access_token(claims["email"])})


@app.get("/test")
async def test(user: Annotated[dict[str, Any], Depends(authenticate_token)]) -> Response:
    return PlainTextResponse("Token Verified, Authorizing User...")


if __name__ == "__main__":
    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
