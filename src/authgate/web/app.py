"""create_app(settings) -> the authgate ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.core.clock import Clock, utc_now
from authgate.core.passwords import RECOMMENDED, Preset
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.errors import error_response, install_error_handlers
from authgate.web.fast import FastGuardedRoutes
from authgate.web.pools import WorkPool
from authgate.web.routes import router
from authgate.web.throttle import Throttle

MAX_BODY_BYTES = 1024 * 1024
# SQLite work is CPU under the GIL: one thread beats many (see web/pools.py).
DATABASE_THREADS = {"sqlite": 1}
logger = logging.getLogger("authgate")


def create_app(
    settings: Settings, *, clock: Clock = utc_now, preset: Preset = RECOMMENDED
) -> FastAPI:
    """Build the app; the database and keys are opened here, so bad settings fail now."""
    service = Service(settings, clock=clock, preset=preset)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        poll = asyncio.create_task(_poll_revocations(service))
        try:
            yield
        finally:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            app.state.hashing.shutdown()
            app.state.database.shutdown()
            service.close()

    app = FastAPI(
        title="authgate",
        version="0.1.0",
        summary="Sign-up, sign-in, Bearer-guarded routes and rotated refresh tokens.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.throttle = Throttle(settings)
    # Hashing threads run at a lower priority, so a sign-in flood takes the CPU the event
    # loop leaves over instead of competing with it (bench/http: /test under the flood).
    app.state.hashing = WorkPool(
        name="hash", workers=settings.hashing_workers, queue=settings.hashing_queue, nice=10
    )
    app.state.database = WorkPool(
        name="db", workers=DATABASE_THREADS.get(service.engine.dialect.name, 8), queue=1024
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(FastGuardedRoutes, guard=service.guard)  # outermost: the hot path
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory for `authgate serve`: each worker reads the environment once."""
    return create_app(Settings.from_env(os.environ))


async def _poll_revocations(service: Service) -> None:
    """Pick up revocations made by other processes (the CLI, other workers)."""
    interval = service.settings.revocation_poll_interval.total_seconds()
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(service.sync_revocations)
        except Exception:  # a database hiccup must not end the poll; the next one retries
            logger.exception("revocation poll failed")


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "the request body is larger than 1 MiB")


class BodyLimit:
    """Answer 413 to bodies over the limit, before anything parses them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await error_response(400, "invalid_request", "bad Content-Length")(
                        scope, receive, send
                    )
                    return
                if int(value) > self.max_bytes:
                    await error_response(413, "request_too_large", BodyTooLarge().detail)(
                        scope, receive, send
                    )
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # a chunked body with no Content-Length
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)
