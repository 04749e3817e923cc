"""The guard at the ASGI layer: every guarded route authenticated once, before routing.

The app's routes are read once, at start. A route is *guarded* when it depends on the
`Claims` guard of web/routes/deps.py. For a request to a guarded route, `GuardedRoutes`
finds the access token (the Bearer header, or the browser's cookie: web/transport.py),
verifies it and checks its revocation (core/guard.py), applies the cookie transport's CSRF
check to unsafe methods, and answers a refusal itself. The claims travel on in the ASGI
scope, where `Claims` finds them: no route verifies a token twice.

A guarded route declared with `direct` is then also served here: its handler takes a
`Call` (the claims, the use cases, the path parameters) and returns the response, with no
per-request routing, dependency injection or response validation. FastAPI still has the
route, built from the same handler, for the OpenAPI document and as the same answer under
any other dispatch. Measured on this project's 2-core machine: GET /test through FastAPI's
machinery about 5,600 req/s, served here about 25,000 (bench/results/http.md).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.core.tokens import AccessClaims
from authgate.errors import AuthgateError, EnrolmentRequired, NoCredentials
from authgate.service import Service
from authgate.web.csrf import SAFE_METHODS
from authgate.web.errors import CsrfRefused, answer_for
from authgate.web.pools import WorkPool
from authgate.web.refusals import log_refusal
from authgate.web.transport import Carrier, Wire, presented

CLAIMS = "authgate.claims"  # the scope key under which the claims travel on
DIRECT = "__authgate_direct__"  # marks a FastAPI endpoint built by `direct`

# Declares the Bearer scheme in OpenAPI with /sign-in as its password flow, so Swagger's
# Authorize button works. auto_error=False: authgate answers 401 in its own shape.
bearer = OAuth2PasswordBearer(tokenUrl="sign-in", auto_error=False)


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated request to a direct route: what its handler is given."""

    claims: AccessClaims
    service: Service
    database: WorkPool
    path: Mapping[str, str]


Handler = Callable[[Call], Awaitable[Response]]


def authenticate(scope: Scope, service: Service, wire: Wire) -> tuple[AccessClaims, Carrier]:
    """A verified, unrevoked access token's claims and what carried it.

    Raises:
        NoCredentials: the request presents no access token (401).
        InvalidToken: the token is refused, for any reason (401).
        CsrfRefused: an unsafe request authenticated by the cookie fails the CSRF checks.
    """
    found = presented(scope["headers"], wire.cookies.access)
    if found is None:
        raise NoCredentials
    token, carrier = found
    claims = service.read(token)
    if carrier == "cookie" and scope["method"] not in SAFE_METHODS:
        wire.csrf.check(Request(scope), claims.session_id)
    return claims, carrier


async def access_claims(
    request: Request,
    _declared: Annotated[str | None, Depends(bearer)],  # the scheme, for OpenAPI only
) -> AccessClaims:
    """The guard as a FastAPI dependency: the claims `GuardedRoutes` found.

    Authenticates the request itself when no `GuardedRoutes` layer did (an app built
    without it), so a route's answer never depends on how it was dispatched.
    """
    claims: AccessClaims | None = request.scope.get(CLAIMS)
    if claims is None:
        state = request.app.state
        claims = authenticate(request.scope, state.service, state.wire)[0]
        request.scope[CLAIMS] = claims  # as the layer passes them on, for a refusal's log
    return claims


def log_route_refusal(request: Request, exc: AuthgateError | CsrfRefused) -> None:
    """Log a refusal that a route FastAPI served raised (web/errors.py's handler calls this),
    naming the user and session of the claims found for a guarded route."""
    route = request.scope.get("route")  # None when raised before routing
    path = route.path if route is not None else request.scope["path"]
    log_refusal(exc, request.scope, route=path, claims=request.scope.get(CLAIMS))


Claims = Annotated[AccessClaims, Depends(access_claims)]


def direct(
    register: Callable[..., Callable[[Callable[..., Any]], Any]],
    path: str,
    **options: Any,
) -> Callable[[Handler], Handler]:
    """Declare a guarded route served by `GuardedRoutes`: `@direct(router.get, "/me", ...)`.

    `register` is the router's method (`router.get`, `router.delete`, …) and `options` its
    usual arguments; FastAPI gets an endpoint that calls the same handler.
    """
    names = re.findall(r"{(\w+)}", path)

    def declare(handler: Handler) -> Handler:
        async def endpoint(request: Request, claims: AccessClaims, **params: str) -> Response:
            state = request.app.state
            return await handler(Call(claims, state.service, state.database, params))

        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("request", kind, annotation=Request),
                inspect.Parameter("claims", kind, annotation=Claims),
                *(inspect.Parameter(name, kind, annotation=str) for name in names),
            ],
            return_annotation=Response,
        )
        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        setattr(endpoint, DIRECT, handler)
        register(path, **options)(endpoint)
        return handler

    return declare


@dataclass(frozen=True, slots=True)
class _Guarded:
    handler: Handler | None  # None: authenticated here, then served by FastAPI
    before_mfa: bool  # open to a session without a second factor under AUTHGATE_MFA=required
    route: str  # the path as declared, for the log of a refusal


class GuardedRoutes:
    """The ASGI layer that authenticates every guarded route and serves the direct ones."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Iterable[BaseRoute],
        service: Service,
        wire: Wire,
        database: WorkPool,
        before_mfa: Iterable[str] = (),
    ) -> None:
        """`before_mfa`: the paths (as routes declare them) that a session without a second
        factor may call when AUTHGATE_MFA=required; every other guarded route answers 403."""
        self.app = app
        self.service = service
        self.wire = wire
        self.database = database
        self.mfa_required = service.settings.mfa == "required"
        open_paths = frozenset(before_mfa)
        self.exact: dict[tuple[str, str], _Guarded] = {}
        self.patterns: list[tuple[re.Pattern[str], str, _Guarded]] = []
        for route in routes:
            if not isinstance(route, APIRoute) or not _guarded(route.dependant):
                continue
            entry = _Guarded(
                getattr(route.endpoint, DIRECT, None), route.path in open_paths, route.path
            )
            for method in route.methods or ():
                if route.param_convertors:
                    self.patterns.append((route.path_regex, method, entry))
                else:
                    self.exact[method, route.path] = entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry, path = self._find(scope["method"], scope["path"])
        if entry is None:
            await self.app(scope, receive, send)
            return
        claims = None  # a refusal once the token verified names its user and session
        try:
            claims, _ = authenticate(scope, self.service, self.wire)
            if self.mfa_required and not entry.before_mfa and "mfa" not in claims.amr:
                raise EnrolmentRequired
            if entry.handler is not None:
                call = Call(claims, self.service, self.database, path)
                response = await entry.handler(call)
        except (AuthgateError, CsrfRefused) as exc:
            log_refusal(exc, scope, route=entry.route, claims=claims)
            response = answer_for(exc)
        else:
            if entry.handler is None:
                scope[CLAIMS] = claims
                await self.app(scope, receive, send)
                return
        await response(scope, receive, send)

    def _find(self, method: str, path: str) -> tuple[_Guarded | None, Mapping[str, str]]:
        entry = self.exact.get((method, path))
        if entry is not None:
            return entry, {}
        for pattern, allowed, found in self.patterns:
            if method == allowed and (match := pattern.match(path)) is not None:
                return found, match.groupdict()
        return None, {}


def _guarded(dependant: Dependant) -> bool:
    """Whether a route's dependencies include the `Claims` guard, however deep."""
    return any(d.call is access_claims or _guarded(d) for d in dependant.dependencies)
