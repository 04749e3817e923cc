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
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken, NoCredentials
from authgate.verifier import Verifier
from authgate.verifier.bearer import Refusal, refusal_for_scopes, scope_set

# Declares the scheme in the OpenAPI schema (Swagger's Authorize button); refusals are ours.
bearer_scheme = HTTPBearer(auto_error=False, description="an authgate access token")


class RequireUser:
    """A dependency returning the AccessClaims of a valid token with the required scopes.

    Raises:
        ValueError: a scope that is not an RFC 6749 scope-token.
    """

    def __init__(self, verifier: Verifier, *, scopes: Iterable[str] = ()) -> None:
        self.verifier = verifier
        self.scopes = scope_set(scopes)

    def with_scopes(self, *scopes: str) -> RequireUser:
        """The same dependency, also requiring `scopes`."""
        return RequireUser(self.verifier, scopes=self.scopes | scope_set(scopes))

    async def __call__(
        self,
        security_scopes: SecurityScopes,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> AccessClaims:
        if credentials is None:
            raise _refuse(Refusal.of(NoCredentials()))
        try:
            claims = await self.verifier.averify(credentials.credentials)
        except InvalidToken as exc:
            raise _refuse(Refusal.of(exc)) from None
        refusal = refusal_for_scopes(claims, self.scopes | scope_set(security_scopes.scopes))
        if refusal is not None:
            raise _refuse(refusal)
        return claims

    def __repr__(self) -> str:
        return f"RequireUser(scopes={sorted(self.scopes)})"


def _refuse(refusal: Refusal) -> HTTPException:
    return HTTPException(
        refusal.status, detail=refusal.detail, headers={"WWW-Authenticate": refusal.challenge}
    )
