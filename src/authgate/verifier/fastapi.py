"""FastAPI: a dependency that answers with the verified claims of the request's Bearer token.

    require_user = RequireUser(verifier)

    @app.get("/me")
    def me(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, str]: ...

    @app.get("/things")
    def things(claims: Annotated[AccessClaims, Depends(require_user.with_scopes("read:things"))]):
        ...

    @app.post("/payouts")
    def payout(claims: Annotated[AccessClaims, Depends(require_user.with_step_up(max_age=300))]):
        ...   # also require_amr=["otp"]; RequireUser(verifier, max_age=..., require_amr=...)

FastAPI's own `Security(require_user, scopes=[...])` works as well. Refusals are
HTTPExceptions: 401 with `WWW-Authenticate: Bearer` (no token) or
`Bearer error="invalid_token"`, 403 with `Bearer error="insufficient_scope"`, and 401 with
`Bearer error="insufficient_user_authentication"` for a step-up (RFC 9470).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from fastapi import HTTPException
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPBearer, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param

from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken, NoCredentials
from authgate.verifier import StepUp, Verifier
from authgate.verifier.bearer import (
    Refusal,
    asgi_authorization,
    refusal_for_scopes,
    refusal_for_step_up,
    scope_set,
)

DESCRIPTION = "an authgate access token"
# For routes that only declare the scheme in the OpenAPI schema; RequireUser declares it
# itself, under the same name.
bearer_scheme = HTTPBearer(auto_error=False, description=DESCRIPTION)


class RequireUser(HTTPBearer):
    """A dependency returning the AccessClaims of a valid token with the required scopes.

    It is FastAPI's HTTPBearer security scheme itself (named `HTTPBearer` in the OpenAPI
    schema: Swagger's Authorize button), reading the header as HTTPBearer does, so a route
    resolves one dependency rather than two; refusals are ours. `max_age` (seconds or a
    timedelta) and `require_amr` ask for a step-up: a sign-in at most that old, by every
    one of those methods (RFC 9470).

    Raises:
        ValueError: a scope that is not an RFC 6749 scope-token, or a bad step-up option.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Iterable[str] = (),
        max_age: int | timedelta | None = None,
        require_amr: Iterable[str] = (),
    ) -> None:
        super().__init__(auto_error=False, description=DESCRIPTION, scheme_name="HTTPBearer")
        self.verifier = verifier
        self.scopes = scope_set(scopes)
        self.step_up = StepUp.of(max_age=max_age, require_amr=require_amr)

    def with_scopes(self, *scopes: str) -> RequireUser:
        """The same dependency, also requiring `scopes`."""
        return self._copy(scopes=self.scopes | scope_set(scopes), step_up=self.step_up)

    def with_step_up(
        self, *, max_age: int | timedelta | None = None, require_amr: Iterable[str] = ()
    ) -> RequireUser:
        """The same dependency, asking for a sign-in within `max_age` by `require_amr`.

        These replace any step-up the dependency asked for before.

        Raises:
            ValueError: a bad step-up option (see StepUp.of).
        """
        step_up = StepUp.of(max_age=max_age, require_amr=require_amr)
        return self._copy(scopes=self.scopes, step_up=step_up)

    def _copy(self, *, scopes: frozenset[str], step_up: StepUp | None) -> RequireUser:
        copy = RequireUser(self.verifier, scopes=scopes)
        copy.step_up = step_up
        return copy

    async def __call__(  # type: ignore[override]  # the claims, not the credentials
        self, request: HTTPConnection, security_scopes: SecurityScopes
    ) -> AccessClaims:
        scheme, token = get_authorization_scheme_param(asgi_authorization(request.scope["headers"]))
        if not token or scheme.lower() != "bearer":
            raise _refuse(Refusal.of(NoCredentials()))
        try:
            claims = await self.verifier.averify(token)
        except InvalidToken as exc:
            raise _refuse(Refusal.of(exc)) from None
        required = self.scopes
        if security_scopes.scopes:  # Security(require_user, scopes=[...])
            required = required | scope_set(security_scopes.scopes)
        refusal = refusal_for_scopes(claims, required)
        if refusal is None and self.step_up is not None:
            refusal = refusal_for_step_up(claims, self.step_up, now=self.verifier.clock())
        if refusal is not None:
            raise _refuse(refusal)
        return claims

    def __repr__(self) -> str:
        if self.step_up is None:
            return f"RequireUser(scopes={sorted(self.scopes)})"
        return f"RequireUser(scopes={sorted(self.scopes)}, step_up={self.step_up})"


def _refuse(refusal: Refusal) -> HTTPException:
    return HTTPException(
        refusal.status, detail=refusal.detail, headers={"WWW-Authenticate": refusal.challenge}
    )
