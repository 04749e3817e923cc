"""Step-up in the Verifier (RFC 9470): how recent the sign-in behind a token is, and how.

Tokens are minted in-process with `auth_time` and `amr`, and verified on a FrozenClock;
one test takes a token from a real server, which issues `auth_time` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

import pytest

from authgate import SigningKey, StaleAuthentication, StaticKeys, Verifier
from authgate.core.clock import FrozenClock
from authgate.core.keys import KeyRing
from authgate.core.tokens import issue_access_token
from authgate.verifier import StepUp, require_methods, require_recent
from authgate.verifier.bearer import Refusal
from servers import Server

from . import AUDIENCE, sign_in

ISSUER = "https://auth.example"


@pytest.fixture
def verifier(test_key: SigningKey, clock: FrozenClock) -> Iterator[Verifier]:
    with Verifier(ISSUER, keys=StaticKeys([test_key]), clock=clock) as built:
        yield built


@pytest.fixture
def signed_in(test_key: SigningKey, clock: FrozenClock) -> Callable[..., str]:
    """Mint a token on `clock` whose user signed in `ago` (None: unknown) by `amr`."""

    def mint(ago: timedelta | None = timedelta(seconds=10), amr: Iterable[str] = ("pwd",)) -> str:
        token, _ = issue_access_token(
            subject="user-1",
            email="user@example.com",
            session_id="session-1",
            keys=KeyRing(test_key),
            issuer=ISSUER,
            audience=AUDIENCE,
            now=clock(),
            ttl=timedelta(minutes=15),
            auth_time=None if ago is None else clock() - ago,
            amr=amr,
        )
        return token

    return mint


@pytest.mark.parametrize("seconds", [0, 10, 299, 300])
def test_sign_in_within_max_age_passes(
    verifier: Verifier, signed_in: Callable[..., str], clock: FrozenClock, seconds: int
) -> None:
    claims = verifier.verify(signed_in(ago=timedelta(seconds=seconds)), max_age=300)

    assert claims.auth_time == clock() - timedelta(seconds=seconds)


def test_sign_in_older_than_max_age_is_stale_and_carries_the_max_age(
    verifier: Verifier, signed_in: Callable[..., str]
) -> None:
    with pytest.raises(StaleAuthentication) as refused:
        verifier.verify(signed_in(ago=timedelta(seconds=301)), max_age=300)

    assert (refused.value.max_age, refused.value.missing_amr) == (300, ())
    assert refused.value.code == "insufficient_user_authentication"


def test_max_age_may_be_a_timedelta(verifier: Verifier, signed_in: Callable[..., str]) -> None:
    token = signed_in(ago=timedelta(minutes=6))

    assert verifier.verify(token, max_age=timedelta(minutes=7)).subject == "user-1"
    with pytest.raises(StaleAuthentication) as refused:
        verifier.verify(token, max_age=timedelta(minutes=5))
    assert refused.value.max_age == 300


def test_token_without_auth_time_fails_any_max_age(
    verifier: Verifier, signed_in: Callable[..., str]
) -> None:
    with pytest.raises(StaleAuthentication) as refused:
        verifier.verify(signed_in(ago=None), max_age=timedelta(days=365))

    assert refused.value.max_age == 365 * 24 * 3600


def test_without_step_up_options_a_token_of_unknown_age_and_methods_verifies(
    verifier: Verifier, signed_in: Callable[..., str]
) -> None:
    claims = verifier.verify(signed_in(ago=None, amr=()))

    assert (claims.auth_time, claims.amr) == (None, ())


def test_sign_in_ages_as_the_verifiers_clock_moves(
    verifier: Verifier, signed_in: Callable[..., str], clock: FrozenClock
) -> None:
    token = signed_in(ago=timedelta(0))
    verifier.verify(token, max_age=60)

    clock.advance(61)

    with pytest.raises(StaleAuthentication):
        verifier.verify(token, max_age=60)  # the cached token is checked again
    assert verifier.verify(token).subject == "user-1"


@pytest.mark.parametrize(
    ("required", "amr"),
    [
        pytest.param(["otp"], ["pwd", "otp"], id="otp"),
        pytest.param(["pwd", "hwk"], ["hwk", "pwd", "mfa"], id="every-one-listed"),
        pytest.param(["mfa"], ["pwd", "otp", "mfa"], id="mfa-by-its-value"),
    ],
)
def test_sign_in_with_the_required_methods_passes(
    verifier: Verifier, signed_in: Callable[..., str], required: list[str], amr: list[str]
) -> None:
    assert verifier.verify(signed_in(amr=amr), require_amr=required).amr == tuple(amr)


@pytest.mark.parametrize(
    ("required", "amr", "missing"),
    [
        pytest.param(["otp"], ["pwd"], ("otp",), id="otp-missing"),
        pytest.param(["otp"], [], ("otp",), id="no-amr-claim"),
        pytest.param(["hwk", "otp"], ["pwd", "otp"], ("hwk",), id="one-of-two-missing"),
        pytest.param(["mfa"], ["pwd", "otp"], ("mfa",), id="mfa-not-inferred"),
    ],
)
def test_sign_in_without_a_required_method_is_refused_naming_it(
    verifier: Verifier,
    signed_in: Callable[..., str],
    required: list[str],
    amr: list[str],
    missing: tuple[str, ...],
) -> None:
    with pytest.raises(StaleAuthentication) as refused:
        verifier.verify(signed_in(amr=amr), require_amr=required)

    assert (refused.value.missing_amr, refused.value.max_age) == (missing, None)
    assert refused.value.code == "insufficient_user_authentication"


def test_missing_methods_are_reported_before_the_age(
    verifier: Verifier, signed_in: Callable[..., str]
) -> None:
    """Signing in again with the method also makes the sign-in recent: one refusal, not two."""
    token = signed_in(ago=timedelta(hours=1), amr=["pwd"])

    with pytest.raises(StaleAuthentication) as refused:
        verifier.verify(token, max_age=300, require_amr=["otp"])

    assert (refused.value.missing_amr, refused.value.max_age) == (("otp",), None)


def test_averify_checks_the_step_up_too(verifier: Verifier, signed_in: Callable[..., str]) -> None:
    token = signed_in(ago=timedelta(hours=1))

    assert asyncio.run(verifier.averify(token, require_amr=["pwd"])).subject == "user-1"
    with pytest.raises(StaleAuthentication):
        asyncio.run(verifier.averify(token, max_age=300))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"require_amr": "otp"}, id="amr-as-one-string"),
        pytest.param({"require_amr": [""]}, id="empty-method"),
        pytest.param({"require_amr": ["o tp"]}, id="method-with-a-space"),
        pytest.param({"require_amr": ['otp"']}, id="method-with-a-quote"),
        pytest.param({"require_amr": [7]}, id="method-not-a-string"),
        pytest.param({"max_age": -1}, id="negative-seconds"),
        pytest.param({"max_age": timedelta(seconds=-1)}, id="negative-timedelta"),
        pytest.param({"max_age": "300"}, id="seconds-as-text"),
        pytest.param({"max_age": True}, id="seconds-as-a-boolean"),
    ],
)
def test_bad_step_up_options_are_refused_where_declared(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        StepUp.of(**options)  # type: ignore[arg-type]


def test_bad_step_up_options_are_refused_by_verify_too(
    verifier: Verifier, signed_in: Callable[..., str]
) -> None:
    with pytest.raises(ValueError, match="list of strings"):
        verifier.verify(signed_in(), require_amr="otp")


def test_no_step_up_options_ask_for_nothing() -> None:
    assert StepUp.of() is None
    assert StepUp.of(max_age=None, require_amr=[]) is None


def test_require_recent_and_require_methods_check_claims_directly(
    verifier: Verifier, signed_in: Callable[..., str], clock: FrozenClock
) -> None:
    claims = verifier.verify(signed_in(ago=timedelta(minutes=2), amr=["pwd", "otp"]))

    require_recent(claims, max_age=timedelta(minutes=2), now=clock())
    require_methods(claims, ["otp", "pwd"])
    with pytest.raises(StaleAuthentication):
        require_recent(claims, max_age=timedelta(minutes=1), now=clock())
    with pytest.raises(StaleAuthentication):
        require_methods(claims, ["hwk"])
    with pytest.raises(ValueError, match="list of strings"):
        require_methods(claims, "otp")


@pytest.mark.parametrize(
    ("refused", "challenge"),
    [
        pytest.param(
            StaleAuthentication(300),
            'Bearer error="insufficient_user_authentication", '
            'error_description="A more recent authentication is required", max_age=300',
            id="max-age",
        ),
        pytest.param(
            StaleAuthentication(missing_amr=("hwk", "otp")),
            'Bearer error="insufficient_user_authentication", '
            'error_description="Authentication with hwk and otp is required"',
            id="methods",
        ),
    ],
)
def test_refusal_is_rfc_9470s_401_and_challenge(
    refused: StaleAuthentication, challenge: str
) -> None:
    refusal = Refusal.of(refused)

    assert (refusal.status, refusal.error, refusal.challenge) == (
        401,
        "insufficient_user_authentication",
        challenge,
    )


def test_the_servers_token_carries_an_auth_time_a_step_up_accepts(server: Server) -> None:
    token = sign_in(server).access_token
    with Verifier(server.url) as live:
        claims = live.verify(token, max_age=timedelta(minutes=1))
    assert claims.auth_time is not None

    later = FrozenClock(claims.auth_time + timedelta(seconds=61))
    with Verifier(server.url, clock=later) as live, pytest.raises(StaleAuthentication):
        live.verify(token, max_age=60)
