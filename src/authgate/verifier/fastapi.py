"""FastAPI: a dependency that answers with the verified claims of the request's Bearer token.

    require_user = RequireUser(verifier)

    @app.get("/me")
    def me(claims: Annotated[AccessClaims, Depends(require_user)]) -> dict[str, str]: ...

    @app.get("/things")
    def things(claims: Annotated[AccessClaims, Depends(require_user.with_scopes("read:things"))]):
        ...

FastAPI's own `Security(require_user, scopes=[...])` works as well. Refusals are
HTTPExceptions: 401 with `WWW-Authenticate: Bearer` (no token) or
`Bearer error="invalid_token"`, and 403 with `Bearer error="insufficient_scope"`.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPBearer, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param

from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken, NoCredentials
from authgate.verifier import Verifier
from authgate.verifier.bearer import Refusal, asgi_authorization, refusal_for_scopes, scope_set

DESCRIPTION = "an authgate access token"
# For routes that only declare the scheme in the OpenAPI schema; RequireUser declares it
# itself, under the same name.
bearer_scheme = HTTPBearer(auto_error=False, description=DESCRIPTION)


class RequireUser(HTTPBearer):
    """A dependency returning the AccessClaims of a valid token with the required scopes.

    It is FastAPI's HTTPBearer security scheme itself (named `HTTPBearer` in the OpenAPI
    schema: Swagger's Authorize button), reading the header as HTTPBearer does, so a route
    resolves one dependency rather than two; refusals are ours.

    Raises:
        ValueError: a scope that is not an RFC 6749 scope-token.
    """

    def __init__(self, verifier: Verifier, *, scopes: Iterable[str] = ()) -> None:
        super().__init__(auto_error=False, description=DESCRIPTION, scheme_name="HTTPBearer")
        self.verifier = verifier
        self.scopes = scope_set(scopes)

    def with_scopes(self, *scopes: str) -> RequireUser:
        """The same dependency, also requiring `scopes`."""
        return RequireUser(self.verifier, scopes=self.scopes | scope_set(scopes))

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
        if refusal is not None:
            raise _refuse(refusal)
        return claims

    def __repr__(self) -> str:
        return f"RequireUser(scopes={sorted(self.scopes)})"


def _refuse(refusal: Refusal) -> HTTPException:
    return HTTPException(
        refusal.status, detail=refusal.detail, headers={"WWW-Authenticate": refusal.challenge}
    )
