"""What every route module shares: the app's parts as dependencies, the guard, error shapes."""

from __future__ import annotations

import functools
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, TypeAdapter

from authgate.service import Service
from authgate.web.bodies import ErrorOut
from authgate.web.cookies import Transport
from authgate.web.guarded import Call, Claims, authenticate, bearer, direct
from authgate.web.pools import WorkPool
from authgate.web.throttle import Throttle
from authgate.web.transport import Wire

Model = TypeVar("Model", bound=BaseModel)
Responses = dict[int | str, dict[str, object]]
ERROR: dict[str, object] = {"model": ErrorOut}
BODY_FAILURES: Responses = {413: ERROR, 422: ERROR}  # over 1 MiB; malformed or mistyped
TOKEN_FAILURES: Responses = {**BODY_FAILURES, 401: ERROR, 429: ERROR}
HASHING_FAILURES: Responses = {**TOKEN_FAILURES, 503: ERROR}  # the hashing queue is full
GUARD_FAILURES: Responses = {401: ERROR}
CSRF_FAILURES: Responses = {403: ERROR}  # cookie transport: cross-origin, or no CSRF token
TransportQuery = Annotated[
    Transport,
    Query(
        description="`body` (default): the tokens in the JSON answer. `cookie`, for "
        "browsers: the tokens in httpOnly cookies and only `expires_in` in the answer; "
        "later requests authenticated by the cookies send the X-CSRF-Token header, set to "
        "the value of the (script-readable) CSRF cookie."
    ),
]


# The dependencies are coroutines: FastAPI runs a plain function dependency on its thread
# pool, a hop per dependency per request (POST /token has four: measured 470-510
# rotations/s with them as functions, 560-590 as coroutines, same busy 2-core machine).


def _app_state(name: str) -> Any:  # a FastAPI Depends marker
    """A dependency answering the app's part `name` (set on app.state by web/app.py)."""

    async def part(request: Request) -> object:
        return getattr(request.app.state, name)

    return Depends(part)


def json(content: BaseModel | list[Model], model: type[Model] | None = None) -> Response:
    """A JSON answer of a response model, or of a list of `model`, as FastAPI writes it."""
    if isinstance(content, BaseModel):
        return Response(content.model_dump_json(), media_type="application/json")
    assert model is not None  # noqa: S101 - a list needs its model to be serialized
    return Response(_list_of(model).dump_json(content), media_type="application/json")


@functools.cache
def _list_of(model: type[Model]) -> TypeAdapter[list[Model]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def throttle_mail(throttle: Throttle, ip: str, address_key: str) -> None:
    """Count a request that sends mail, per IP and per address (known or not).

    Raises:
        Throttled: 429 with Retry-After, the same for addresses with and without accounts.
    """
    await throttle.hit("mail_ip", ip)
    await throttle.hit("mail_address", address_key)


async def end_replaced_session(
    request: Request, transport: Transport, *, wire: Wire, svc: Service, db: WorkPool
) -> None:
    """A browser that signed in again ends the session its cookies held, as a sign-out
    would: the new session replaces it, and its tokens must not outlive it (ASVS V7.2.4).

    Called once the sign-in succeeded: a refused one changes nothing.
    """
    replaced = wire.replaced_refresh_token(request, transport)
    if replaced is not None:
        await db.run(svc.sign_out_by_refresh_token, replaced)


LinkQuery = Annotated[
    str | None,
    Query(
        description="The link's token. The page's script sends it with the button's POST; "
        "opening the page consumes nothing (mail scanners open links)."
    ),
]


Svc = Annotated[Service, _app_state("service")]
Transports = Annotated[Wire, _app_state("wire")]
Throttles = Annotated[Throttle, _app_state("throttle")]
Hashing = Annotated[WorkPool, _app_state("hashing")]  # password hashing
Database = Annotated[WorkPool, _app_state("database")]

__all__ = ["Call", "Claims", "authenticate", "bearer", "direct"]  # the guard, for the routes
