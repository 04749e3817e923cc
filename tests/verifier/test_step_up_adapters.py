"""Step-up on every adapter, through each framework's own test client (RFC 9470 §3).

A sign-in within the route's `max_age` passes; an older one, or one of unknown age, gets
401 + `Bearer error="insufficient_user_authentication", error_description="…", max_age=N`;
a sign-in without a method of `require_amr` gets the same error without `max_age`; a route
without either option admits what it admitted before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from authgate import AccessClaims, SigningKey, StaticKeys, Verifier
from authgate.core.keys import KeyRing
from authgate.core.tokens import issue_access_token
from authgate.verifier.fastapi import RequireUser

from . import AUDIENCE, mint
from .sites import Site
from .step_up_sites import ISSUER, STEP_UP_SITES
from .test_verifier import signature_flipped

STALE = {
    "error": "insufficient_user_authentication",
    "error_description": "A more recent authentication is required",
    "max_age": "300",
}
WITHOUT_OTP = {
    "error": "insufficient_user_authentication",
    "error_description": "Authentication with otp is required",
}
# RFC 9110 §11.2: auth-param = token "=" ( token / quoted-string ), separated by commas.
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
AUTH_PARAM = re.compile(rf'\s*({TOKEN})=(?:({TOKEN})|"((?:[^"\\]|\\.)*)")\s*(,|$)')


def signed_in(
    key: SigningKey, *, ago: timedelta | None = timedelta(seconds=10), amr: Iterable[str] = ("pwd",)
) -> str:
    """The Authorization header of a token whose user signed in `ago` (None: unknown)."""
    now = datetime.now(UTC)
    token, _ = issue_access_token(
        subject="user-stepped-up",
        email="stepped-up@example.com",
        session_id="session-stepped-up",
        keys=KeyRing(key),
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        ttl=timedelta(minutes=15),
        auth_time=None if ago is None else now - ago,
        amr=amr,
    )
    return f"Bearer {token}"


def parsed(challenge: str | None) -> tuple[str, dict[str, str]]:
    """The scheme and the auth-params of one WWW-Authenticate challenge."""
    assert challenge is not None
    scheme, _, rest = challenge.partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = AUTH_PARAM.match(rest, position)
        assert match is not None, f"not an auth-param list: {rest[position:]!r}"
        name, token, quoted, _ = match.groups()
        assert name not in params, f"{name} given twice"
        params[name] = token if token is not None else re.sub(r"\\(.)", r"\1", quoted)
        position = match.end()
    return scheme, params


@pytest.fixture(params=list(STEP_UP_SITES))
def site(request: pytest.FixtureRequest, test_key: SigningKey) -> Iterator[Site]:
    with STEP_UP_SITES[request.param](test_key) as built:
        yield built


@pytest.mark.parametrize(
    "ago",
    [
        pytest.param(timedelta(seconds=10), id="10s-ago"),
        pytest.param(timedelta(seconds=-5), id="clock-skew"),
    ],
)
def test_recent_sign_in_passes_a_route_with_max_age(
    site: Site, test_key: SigningKey, ago: timedelta
) -> None:
    answer = site.get("/recent", signed_in(test_key, ago=ago))

    assert (answer.status, answer.body) == (200, {"sub": "user-stepped-up"})


def test_old_sign_in_gets_401_and_the_max_age_challenge(site: Site, test_key: SigningKey) -> None:
    answer = site.get("/recent", signed_in(test_key, ago=timedelta(hours=1)))

    assert answer.status == 401
    assert parsed(answer.challenge) == ("Bearer", STALE)


def test_token_without_auth_time_is_refused_where_max_age_is_set(
    site: Site, test_key: SigningKey
) -> None:
    answer = site.get("/recent", signed_in(test_key, ago=None))

    assert answer.status == 401
    assert parsed(answer.challenge) == ("Bearer", STALE)


def test_sign_in_without_otp_is_refused_where_otp_is_required(
    site: Site, test_key: SigningKey
) -> None:
    answer = site.get("/otp", signed_in(test_key, amr=["pwd"]))

    assert answer.status == 401
    assert parsed(answer.challenge) == ("Bearer", WITHOUT_OTP)


def test_sign_in_with_otp_passes_where_otp_is_required(site: Site, test_key: SigningKey) -> None:
    answer = site.get("/otp", signed_in(test_key, ago=timedelta(days=1), amr=["pwd", "otp", "mfa"]))

    assert (answer.status, answer.body) == (200, {"sub": "user-stepped-up"})


def test_route_without_step_up_options_admits_any_sign_in(site: Site, test_key: SigningKey) -> None:
    """A token of unknown age and methods, as the server issued before step-up existed."""
    answer = site.get("/plain", signed_in(test_key, ago=None, amr=()))

    assert (answer.status, answer.body) == (200, {"sub": "user-stepped-up"})


def test_step_up_route_without_a_token_gets_401_and_a_bare_challenge(site: Site) -> None:
    answer = site.get("/recent")

    assert (answer.status, answer.challenge) == (401, "Bearer")


def test_step_up_route_refuses_a_forged_token_as_invalid_token(
    site: Site, test_key: SigningKey
) -> None:
    token = signed_in(test_key).removeprefix("Bearer ")

    answer = site.get("/recent", f"Bearer {signature_flipped(token)}")

    assert (answer.status, answer.challenge) == (401, 'Bearer error="invalid_token"')


@pytest.mark.parametrize("framework", ["starlette", "flask", "django"])
def test_refusal_body_names_the_error(framework: str, test_key: SigningKey) -> None:
    """The adapters that answer `{"error", "detail"}` JSON do so for a step-up too."""
    with STEP_UP_SITES[framework](test_key) as site:
        answer = site.get("/recent", signed_in(test_key, ago=timedelta(hours=1)))

    assert answer.body["error"] == "insufficient_user_authentication"
    assert "300 seconds" in answer.body["detail"]


def _fastapi_route(guard: RequireUser, authorization: str) -> tuple[int, str | None]:
    app = FastAPI()

    @app.get("/things")
    def things(claims: AccessClaims = Depends(guard)) -> dict[str, str]:  # noqa: B008
        return {"sub": claims.subject}

    with TestClient(app) as client:
        answer = client.get("/things", headers={"Authorization": authorization})
    return answer.status_code, answer.headers.get("WWW-Authenticate")


def test_fastapi_with_scopes_keeps_the_step_up(test_key: SigningKey) -> None:
    verifier = Verifier(ISSUER, keys=StaticKeys([test_key]))
    guard = RequireUser(verifier).with_step_up(max_age=300).with_scopes("read:things")
    token = mint(test_key, issuer=ISSUER, scopes=["read:things"])  # no auth_time

    status, challenge = _fastapi_route(guard, f"Bearer {token}")

    assert (status, parsed(challenge)) == (401, ("Bearer", STALE))


def test_fastapi_missing_scope_is_answered_before_the_step_up(test_key: SigningKey) -> None:
    """Signing in again would not bring the scope: the 403 is the useful answer."""
    verifier = Verifier(ISSUER, keys=StaticKeys([test_key]))
    guard = RequireUser(verifier, scopes=["read:things"], max_age=300)

    status, challenge = _fastapi_route(guard, signed_in(test_key, ago=timedelta(hours=1)))

    assert (status, challenge) == (403, 'Bearer error="insufficient_scope", scope="read:things"')


def _fastapi_declaration(test_key: SigningKey) -> None:
    RequireUser(Verifier(ISSUER, keys=StaticKeys([test_key])), max_age=-1)


def _fastapi_with_step_up(test_key: SigningKey) -> None:
    RequireUser(Verifier(ISSUER, keys=StaticKeys([test_key]))).with_step_up(require_amr="otp")


def _starlette_declaration(test_key: SigningKey) -> None:
    from authgate.verifier.starlette import requires_step_up

    requires_step_up(require_amr=["o tp"])


def _starlette_endpoint_without_request(test_key: SigningKey) -> None:
    from authgate.verifier.starlette import requires_step_up

    requires_step_up(max_age=300)(lambda: None)


def _flask_declaration(test_key: SigningKey) -> None:
    from authgate.verifier.flask import require_token

    require_token(require_amr="otp")


def _django_declaration(test_key: SigningKey) -> None:
    from authgate.verifier.django import require_token

    require_token(max_age="300")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "declare",
    [
        pytest.param(_fastapi_declaration, id="fastapi-negative-max-age"),
        pytest.param(_fastapi_with_step_up, id="fastapi-amr-as-one-string"),
        pytest.param(_starlette_declaration, id="starlette-method-with-a-space"),
        pytest.param(_starlette_endpoint_without_request, id="starlette-no-request"),
        pytest.param(_flask_declaration, id="flask-amr-as-one-string"),
        pytest.param(_django_declaration, id="django-max-age-as-text"),
    ],
)
def test_bad_step_up_option_fails_where_the_route_is_declared(
    declare: Callable[[SigningKey], None], test_key: SigningKey
) -> None:
    with pytest.raises(ValueError, match=r"."):
        declare(test_key)
