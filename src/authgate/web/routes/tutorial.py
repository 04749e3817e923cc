"""GET /test, the tutorial's protected example."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from authgate.web.routes.deps import GUARD_FAILURES, Call, direct

router = APIRouter()
VERIFIED = PlainTextResponse("Token Verified, Authorizing User...")


@direct(
    router.get,
    "/test",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "OK"},
        **GUARD_FAILURES,
    },
)
async def test(call: Call) -> PlainTextResponse:
    """The tutorial's protected example."""
    return VERIFIED
