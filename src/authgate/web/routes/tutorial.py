"""GET /test, the tutorial's protected example."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from authgate.web.routes.deps import GUARD_FAILURES, Claims

router = APIRouter()


@router.get(
    "/test",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "OK"},
        **GUARD_FAILURES,
    },
)
async def test(claims: Claims) -> PlainTextResponse:
    """The tutorial's protected example.

    Served by web/tutorial_route.py at the ASGI layer for speed; this route is its documented form.
    """
    return PlainTextResponse("Token Verified, Authorizing User...")
