"""create_app(settings) -> the authgate ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from authgate.core.announcements import Announcement
from authgate.core.clock import Clock, utc_now
from authgate.core.passwords import RECOMMENDED, Preset
from authgate.service import Service
from authgate.settings import Settings
from authgate.storage.engine import database_threads
from authgate.web.cookies import Cookies
from authgate.web.csrf import Csrf, csrf_key
from authgate.web.docs import docs
from authgate.web.errors import error_response, install_error_handlers, unexpected_error
from authgate.web.guarded import GuardedRoutes, log_route_refusal
from authgate.web.headers import SecurityHeaders, floor_headers
from authgate.web.logs import configure_logging
from authgate.web.pacing import Pacer
from authgate.web.page import page
from authgate.web.pools import WorkPool, give_back_free_memory
from authgate.web.routes import BEFORE_MFA, router
from authgate.web.sender import Sender, SmtpServer
from authgate.web.throttle import Throttle, rates
from authgate.web.transport import Wire
from authgate.wiring import Parts

MAX_BODY_BYTES = 1024 * 1024
logger = logging.getLogger("authgate")


def create_app(
    settings: Settings, *, clock: Clock = utc_now, preset: Preset = RECOMMENDED
) -> FastAPI:
    """Build the app; the database and keys are opened here, so bad settings fail now."""
    service = Service(settings, clock=clock, preset=preset)
    parts = service.parts  # the wiring: what the app's machinery runs on, never its routes
    for warning in service.warnings:
        logger.warning("%s", warning)
    cookies = Cookies(secure=settings.cookie_secure, same_site=settings.cookie_samesite)
    try:
        csrf = Csrf(csrf_key(service), cookie=cookies.csrf)
    except BaseException:
        service.close()  # a refused start leaves no connection behind
        raise

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One thread for the catch-up work, so two catch-ups never overlap and shutdown
        # can wait for the one under way before the database closes.
        sync = WorkPool(name="sync", workers=1, queue=8)
        tasks = [
            asyncio.create_task(_catch_up(parts, sync)),
            asyncio.create_task(_listen(parts, sync)),
        ]
        if settings.smtp_url is not None:
            sender = Sender(
                parts.outbox,
                server=SmtpServer.from_url(settings.smtp_url.reveal()),
                mail_from=settings.mail_from,
                key_encryption_key=kek.reveal() if (kek := settings.key_encryption_key) else None,
                clock=clock,
                metrics=parts.metrics,
                database=app.state.database,
                max_attempts=settings.mail_max_attempts,
                retry_delay=settings.mail_retry_delay,
            )
            parts.mail_queued = sender.wake
            tasks.append(asyncio.create_task(sender.run()))
        try:
            # Before serving: a failed sign-in waits out the costliest check (web/pacing.py).
            # On this thread, blocking since nothing is served yet: a hashing thread would
            # keep the hash's memory (19 MiB) in its arena for good (web/pools.py).
            app.state.pacer.calibrate(parts.passwords, parts.store)
            give_back_free_memory()
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sync.shutdown()
            await app.state.throttle.close()
            # A hash still running is not waited for: its request is gone, and a hash can
            # take long (a legacy bcrypt cost) or, with a hostile stored hash, forever.
            app.state.hashing.shutdown(timeout=timedelta(0))
            app.state.database.shutdown()
            service.close()

    app = FastAPI(
        title="authgate",
        version="0.1.0",
        summary="Sign-up, sign-in, Bearer-guarded routes and rotated refresh tokens.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI from a CDN; web/docs.py serves it
        redoc_url=None,
    )
    app.state.service = service
    app.state.throttle = Throttle(
        rates(settings),
        redis_url=settings.redis_url,
        refused=lambda rule: parts.metrics.throttled.labels(rule).inc(),
    )
    app.state.pacer = Pacer()
    app.state.wire = Wire(cookies, csrf)
    # Hashing threads run at a lower priority, so a sign-in flood takes the CPU the event
    # loop leaves over instead of competing with it (bench/http: /test under the flood).
    app.state.hashing = WorkPool(
        name="hash", workers=settings.hashing_workers, queue=settings.hashing_queue, nice=10
    )
    app.state.database = WorkPool(name="db", workers=database_threads(parts.engine), queue=1024)
    parts.metrics.watch(parts.metrics.hashing_queue, lambda: app.state.hashing.in_flight)
    install_error_handlers(app, refused=log_route_refusal)
    floor = floor_headers(settings.public_base)
    # Starlette's outermost layer answers an unhandled exception (and lets the server log
    # it): that answer is made here, with the floor the layer below adds to every other.
    app.add_exception_handler(Exception, unexpected_error(floor))
    app.add_middleware(  # innermost: it sees the client address the proxy layer found
        GuardedRoutes,
        routes=router.routes,
        service=service,
        wire=app.state.wire,
        database=app.state.database,
        before_mfa=BEFORE_MFA,
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    if settings.trusted_proxies:
        # The client address of throttles, sessions and the audit log comes from
        # X-Forwarded-For only when the peer is a proxy the operator named. Here, not in
        # uvicorn's flags, so the app behaves the same under any server (`serve` turns
        # uvicorn's own copy, trusting 127.0.0.1 by default, off).
        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[str(network) for network in settings.trusted_proxies],
        )
    app.add_middleware(SecurityHeaders, headers=floor)  # outermost: every answer gets it
    app.include_router(router)
    app.include_router(page)
    app.include_router(docs)
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory for `authgate serve`: each worker reads the environment once."""
    settings = Settings.from_env(os.environ)
    configure_logging(level=settings.log_level, format=settings.log_format)
    return create_app(settings)


async def _catch_up(parts: Parts, pool: WorkPool) -> None:
    """The periodic poll: revocations and key rotations made by other processes.

    With Redis or LISTEN/NOTIFY it only heals what a lost message missed; on SQLite alone
    it is how workers and the CLI reach each other.
    """
    interval = parts.settings.revocation_poll_interval.total_seconds()
    while True:
        await asyncio.sleep(interval)
        await _in_thread(pool, parts.catch_up, what="catch-up poll")


async def _listen(parts: Parts, pool: WorkPool) -> None:
    """Apply what other processes announce, as it arrives (Redis or LISTEN/NOTIFY)."""
    background: set[asyncio.Task[None]] = set()

    def soon(work: Callable[[], object], what: str) -> None:
        task = asyncio.create_task(_in_thread(pool, work, what=what))
        background.add(task)
        task.add_done_callback(background.discard)

    def deliver(announcement: Announcement) -> None:
        parts.learn(announcement)
        if announcement.keys:
            soon(parts.refresh_keys, "key refresh")

    await parts.fanout.listen(
        deliver, connected=lambda: soon(parts.catch_up, "catch-up after connecting")
    )


async def _in_thread(pool: WorkPool, work: Callable[[], object], *, what: str) -> None:
    try:
        await pool.run(work)
    except Exception:  # a database hiccup must not end the loop; the next round retries
        logger.exception("%s failed", what)


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
