"""Second factors through the real app (DESIGN.md §9), on a frozen clock: TOTP windows (30
seconds, or more with AUTHGATE_TOTP_DRIFT_STEPS), replay, recovery codes, the mfa_token,
throttling, step-up, claims and notices."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.totp import STEP_SECONDS as STEP
from authgate.errors import ConfigurationError
from authgate.service import Service
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, KEY_ENCRYPTION_KEY, PASSWORD, bearer, sign_up_and_in

from .helpers import MakeClient

EMAIL = "ada@example.com"
CREDENTIALS = {"email": EMAIL, "password": PASSWORD}


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def code_at(secret: str, clock: FrozenClock, *, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock(), counter_offset=steps)


def enrolled(client: TestClient, clock: FrozenClock) -> tuple[str, list[str], dict[str, str]]:
    """A user with a confirmed authenticator app: its secret, recovery codes, first tokens."""
    tokens = sign_up_and_in(client)
    started = client.post("/mfa/totp", headers=bearer(tokens["access_token"]))
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        "/mfa/totp/confirm",
        headers=bearer(tokens["access_token"]),
        json={"code": code_at(secret, clock)},
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(30)  # the confirming code's step is used up
    return secret, confirmed.json()["recovery_codes"], tokens


def mfa_token(client: TestClient) -> str:
    answer = client.post("/sign-in", json=CREDENTIALS)
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert body["error"] == "mfa_required"
    assert body["methods"] == ["totp", "recovery_code"]
    assert answer.headers["cache-control"] == "no-store"
    token: str = body["mfa_token"]
    return token


def test_enrolment_gives_a_secret_an_otpauth_uri_and_a_qr_code(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    answer = client.post("/mfa/totp", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200
    body = answer.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].lstrip().startswith("<svg")
    # Not active until confirmed: sign-in still needs the password only.
    assert client.post("/sign-in", json=CREDENTIALS).status_code == 200


def test_confirmation_needs_a_current_code(client: TestClient, clock: FrozenClock) -> None:
    tokens = sign_up_and_in(client)
    secret = client.post("/mfa/totp", headers=bearer(tokens["access_token"])).json()["secret"]
    for wrong in ("000000", code_at(secret, clock, steps=5), "12345", "abcdef", ""):
        answer = client.post(
            "/mfa/totp/confirm", headers=bearer(tokens["access_token"]), json={"code": wrong}
        )
        assert answer.status_code == 400, wrong
        assert answer.json()["error"] == "invalid_code"


def test_a_confirmed_app_makes_sign_in_need_a_code(client: TestClient, clock: FrozenClock) -> None:
    secret, _, _ = enrolled(client, clock)
    token = mfa_token(client)
    done = client.post("/sign-in/mfa", json={"mfa_token": token, "code": code_at(secret, clock)})
    assert done.status_code == 200, done.text
    claims = service_of(client).read(done.json()["access_token"])
    assert claims.amr == ("pwd", "otp", "mfa")
    refreshed = client.post("/token", json={"refresh_token": done.json()["refresh_token"]})
    assert service_of(client).read(refreshed.json()["access_token"]).amr == ("pwd", "otp", "mfa")


@pytest.mark.parametrize("backend", ["sqlite"])  # a window on a frozen clock: no store matters
@pytest.mark.parametrize(
    ("seconds", "accepted"),
    [
        pytest.param(-1, False, id="a-second-early-the-next-steps-code"),
        pytest.param(0, True, id="its-first-second"),
        pytest.param(29, True, id="its-last-second"),
        pytest.param(30, False, id="a-step-late-the-previous-steps-code"),
    ],
)
def test_a_code_lives_30_seconds_by_default(
    client: TestClient, clock: FrozenClock, seconds: int, accepted: bool
) -> None:
    """ASVS 5.0 V6.5.5: with AUTHGATE_TOTP_DRIFT_STEPS unset, a code works during the 30
    seconds of its own step only, neither the step before it nor the step after."""
    secret, _, _ = enrolled(client, clock)
    clock.advance(120 + STEP - clock().timestamp() % STEP)  # the first second of a step
    code = code_at(secret, clock)
    clock.advance(seconds)
    answer = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code})
    assert (answer.status_code == 200) is accepted, answer.text


@pytest.mark.parametrize("backend", ["sqlite"])  # a window on a frozen clock: no store matters
@pytest.mark.parametrize(
    ("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_with_one_step_of_drift_codes_one_step_either_side_are_accepted(
    make_client: MakeClient, clock: FrozenClock, steps: int, accepted: bool
) -> None:
    drifting = make_client(totp_drift_steps=1)
    secret, _, _ = enrolled(drifting, clock)
    clock.advance(120)
    code = code_at(secret, clock, steps=steps)
    answer = drifting.post("/sign-in/mfa", json={"mfa_token": mfa_token(drifting), "code": code})
    assert (answer.status_code == 200) is accepted, answer.text


@pytest.mark.parametrize("drift", [0, 1])
def test_a_code_works_once(make_client: MakeClient, clock: FrozenClock, drift: int) -> None:
    client = make_client(totp_drift_steps=drift)
    secret, _, _ = enrolled(client, clock)
    code = code_at(secret, clock)
    first = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code})
    assert first.status_code == 200
    again = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"
    # An earlier step's code is a replay too, even where the window of drift reaches it.
    earlier = code_at(secret, clock, steps=-1)
    late = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": earlier})
    assert late.status_code == 401


def test_with_drift_a_later_steps_code_voids_the_current_ones(
    make_client: MakeClient, clock: FrozenClock
) -> None:
    """The store keeps the latest step used: after the next step's code, the current one
    (still inside the window) is refused, and so is the next one again a step later."""
    client = make_client(totp_drift_steps=1)
    secret, _, _ = enrolled(client, clock)
    ahead = code_at(secret, clock, steps=1)
    used = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": ahead})
    assert used.status_code == 200, used.text
    current = code_at(secret, clock)
    refused = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": current})
    assert refused.status_code == 401
    clock.advance(STEP)
    again = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": ahead})
    assert again.status_code == 401


def confirm_with(client: TestClient, clock: FrozenClock, steps: int) -> int:
    """Confirm a new enrolment with the code `steps` away from now: the answer's status."""
    headers = bearer(sign_up_and_in(client)["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    code = code_at(secret, clock, steps=steps)
    return client.post("/mfa/totp/confirm", headers=headers, json={"code": code}).status_code


def sign_in_with(client: TestClient, clock: FrozenClock, steps: int) -> int:
    secret, _, _ = enrolled(client, clock)
    clock.advance(120)  # past the confirming code's step, which is used
    code = code_at(secret, clock, steps=steps)
    return client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code}
    ).status_code


def reauthenticate_with(client: TestClient, clock: FrozenClock, steps: int) -> int:
    secret, _, tokens = enrolled(client, clock)
    clock.advance(120)
    code = code_at(secret, clock, steps=steps)
    headers = bearer(tokens["access_token"])
    body = {"password": PASSWORD, "code": code}
    return client.post("/reauthenticate", headers=headers, json=body).status_code


@pytest.mark.parametrize("backend", ["sqlite"])  # a window on a frozen clock: no store matters
@pytest.mark.parametrize(
    "check",
    [
        pytest.param(confirm_with, id="confirm-enrolment"),
        pytest.param(sign_in_with, id="sign-in"),
        pytest.param(reauthenticate_with, id="reauthenticate"),
    ],
)
@pytest.mark.parametrize("steps", [-1, 1])
@pytest.mark.parametrize("drift", [0, 1])
def test_every_code_check_uses_the_configured_window(
    make_client: MakeClient,
    clock: FrozenClock,
    check: Callable[[TestClient, FrozenClock, int], int],
    steps: int,
    drift: int,
) -> None:
    """Enrolment, the sign-in's second step and /reauthenticate (the step-up that removing
    the app needs) accept the same codes: a neighbouring step's only with drift allowed."""
    status = check(make_client(totp_drift_steps=drift), clock, steps)
    assert (status == 200) is (drift == 1), status


def test_the_drift_setting_is_0_by_default_and_read_from_the_environment() -> None:
    assert Settings.from_env({}, env_file=None).totp_drift_steps == 0
    read = Settings.from_env({"AUTHGATE_TOTP_DRIFT_STEPS": "1"}, env_file=None)
    assert read.totp_drift_steps == 1


@pytest.mark.parametrize("value", ["3", "-1", "one", "1.5", ""])
def test_a_bad_drift_setting_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTHGATE_TOTP_DRIFT_STEPS"):
        Settings.from_env({"AUTHGATE_TOTP_DRIFT_STEPS": value}, env_file=None)


def test_recovery_codes_work_once_each_and_are_mailed_about(
    client: TestClient, clock: FrozenClock
) -> None:
    _, codes, _ = enrolled(client, clock)
    assert len(codes) == len(set(codes)) == 10
    used = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "recovery_code": codes[0].upper()}
    )
    assert used.status_code == 200
    again = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "recovery_code": codes[0]}
    )
    assert again.status_code == 401
    notices = [e for e in service_of(client).outbox() if e.kind == "security_notice"]
    letters = [service_of(client).open_mail(e) for e in notices]
    assert any(letter and "recovery code was used" in letter.text for letter in letters)


def test_new_recovery_codes_void_the_old_set(client: TestClient, clock: FrozenClock) -> None:
    secret, old, _ = enrolled(client, clock)
    done = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code_at(secret, clock)}
    )
    fresh = client.post("/mfa/recovery-codes", headers=bearer(done.json()["access_token"]))
    assert fresh.status_code == 200
    new = fresh.json()["recovery_codes"]
    assert not set(new) & set(old)
    refused = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "recovery_code": old[1]}
    )
    assert refused.status_code == 401
    ok = client.post("/sign-in/mfa", json={"mfa_token": mfa_token(client), "recovery_code": new[1]})
    assert ok.status_code == 200


def test_removing_the_app_brings_back_password_only_sign_in(
    client: TestClient, clock: FrozenClock
) -> None:
    _, _, tokens = enrolled(client, clock)
    assert client.delete("/mfa/totp", headers=bearer(tokens["access_token"])).status_code == 204
    assert client.delete("/mfa/totp", headers=bearer(tokens["access_token"])).status_code == 404
    assert client.post("/sign-in", json=CREDENTIALS).status_code == 200
    assert (
        client.post("/mfa/recovery-codes", headers=bearer(tokens["access_token"])).status_code
        == 404
    )


def test_a_second_enrolment_is_409(client: TestClient, clock: FrozenClock) -> None:
    _, _, tokens = enrolled(client, clock)
    assert client.post("/mfa/totp", headers=bearer(tokens["access_token"])).status_code == 409


def invalid_mfa(client: TestClient, token: str, code: str) -> None:
    answer = client.post("/sign-in/mfa", json={"mfa_token": token, "code": code})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_mfa_token"


def test_an_mfa_token_is_single_use(client: TestClient, clock: FrozenClock) -> None:
    secret, _, _ = enrolled(client, clock)
    token = mfa_token(client)
    assert (
        client.post(
            "/sign-in/mfa", json={"mfa_token": token, "code": code_at(secret, clock)}
        ).status_code
        == 200
    )
    clock.advance(30)
    invalid_mfa(client, token, code_at(secret, clock))


def test_an_mfa_token_expires_after_five_minutes(client: TestClient, clock: FrozenClock) -> None:
    secret, _, _ = enrolled(client, clock)
    token = mfa_token(client)
    clock.advance(301)
    invalid_mfa(client, token, code_at(secret, clock))


def test_an_mfa_token_is_not_an_access_token(client: TestClient, clock: FrozenClock) -> None:
    enrolled(client, clock)
    token = mfa_token(client)
    for path in ("/me", "/test", "/sessions"):
        assert client.get(path, headers=bearer(token)).status_code == 401


def test_an_mfa_token_dies_after_five_wrong_codes(client: TestClient, clock: FrozenClock) -> None:
    secret, _, _ = enrolled(client, clock)
    token = mfa_token(client)
    for _ in range(5):
        wrong = client.post("/sign-in/mfa", json={"mfa_token": token, "code": "000000"})
        assert wrong.json()["error"] == "invalid_credentials"
    invalid_mfa(client, token, code_at(secret, clock))


def test_an_mfa_token_dies_when_the_password_changes(
    client: TestClient, clock: FrozenClock
) -> None:
    secret, _, _ = enrolled(client, clock)
    token = mfa_token(client)
    done = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code_at(secret, clock)}
    )
    changed = client.post(
        "/password/change",
        headers=bearer(done.json()["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert changed.status_code == 204
    clock.advance(30)
    invalid_mfa(client, token, code_at(secret, clock))


def test_an_mfa_token_for_another_account_does_not_take_its_code(
    client: TestClient, clock: FrozenClock
) -> None:
    secret, _, _ = enrolled(client, clock)
    ada = mfa_token(client)
    # Bob has an app too; Ada's token with Bob's code is a wrong code for Ada.
    client.post("/sign-up", json={"email": "bob@example.com", "password": PASSWORD})
    bob = client.post("/sign-in", json={"email": "bob@example.com", "password": PASSWORD}).json()
    bob_secret = client.post("/mfa/totp", headers=bearer(bob["access_token"])).json()["secret"]
    client.post(
        "/mfa/totp/confirm",
        headers=bearer(bob["access_token"]),
        json={"code": code_at(bob_secret, clock)},
    )
    clock.advance(30)
    answer = client.post(
        "/sign-in/mfa", json={"mfa_token": ada, "code": code_at(bob_secret, clock)}
    )
    assert answer.status_code == 401
    assert (
        client.post(
            "/sign-in/mfa", json={"mfa_token": ada, "code": code_at(secret, clock)}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body",
    [
        {"mfa_token": "x" * 43},
        {"mfa_token": "x" * 43, "code": "123456", "recovery_code": "a"},
        {"code": "123456"},
        {"mfa_token": 5, "code": "123456"},
    ],
)
def test_malformed_second_steps_are_422(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/sign-in/mfa", json=body).status_code == 422


@pytest.mark.parametrize("token", ["", "junk", "x" * 43, "é" * 43, "x" * 5000])
def test_unknown_mfa_tokens_are_refused(client: TestClient, token: str) -> None:
    invalid_mfa(client, token, "123456")


@pytest.fixture
def tight(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    rates = {**GENEROUS_THROTTLES, "throttle_sign_in_account": "3/minute"}
    with TestClient(
        create_app(
            Settings(database_url=settings.database_url, **rates),
            clock=clock,
            preset=FAST_FOR_TESTS,
        )
    ) as client:
        yield client


def test_wrong_codes_count_as_failed_sign_ins_of_the_account(
    tight: TestClient, clock: FrozenClock
) -> None:
    enrolled(tight, clock)
    tokens = [mfa_token(tight) for _ in range(4)]  # right passwords count nothing
    answers = [
        tight.post("/sign-in/mfa", json={"mfa_token": t, "code": "000000"}).status_code
        for t in tokens
    ]
    assert answers == [401, 401, 401, 429]
    # The account's limit is one for both steps: the password step is refused too now.
    assert tight.post("/sign-in", json=CREDENTIALS).status_code == 429


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/mfa/totp"), ("DELETE", "/mfa/totp"), ("POST", "/mfa/recovery-codes")],
)
def test_factor_changes_need_a_recent_sign_in(
    client: TestClient, clock: FrozenClock, method: str, path: str
) -> None:
    _, _, tokens = enrolled(client, clock)
    clock.advance(301)
    refreshed = client.post("/token", json={"refresh_token": tokens["refresh_token"]}).json()
    answer = client.request(method, path, headers=bearer(refreshed["access_token"]))
    assert answer.status_code == 401
    assert answer.json()["error"] == "insufficient_user_authentication"
    assert "max_age=300" in answer.headers["WWW-Authenticate"]


def test_setting_up_and_removing_the_app_is_mailed(client: TestClient, clock: FrozenClock) -> None:
    _, _, tokens = enrolled(client, clock)
    client.delete("/mfa/totp", headers=bearer(tokens["access_token"]))
    service = service_of(client)
    texts = [service.open_mail(e).text for e in service.outbox() if e.kind == "security_notice"]  # type: ignore[union-attr]
    assert any("authenticator app was set up" in t for t in texts)
    assert any("authenticator app was removed" in t for t in texts)


def test_the_totp_secret_is_sealed_at_rest_with_a_key_encryption_key(
    settings: Settings, clock: FrozenClock
) -> None:
    sealed = Settings(
        database_url=settings.database_url,
        key_encryption_key=Secret(KEY_ENCRYPTION_KEY),
        **GENEROUS_THROTTLES,
    )
    with TestClient(create_app(sealed, clock=clock, preset=FAST_FOR_TESTS)) as client:
        secret, _, _ = enrolled(client, clock)
        engine = service_of(client).parts.engine
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT secret, sealed FROM totp_factors")).one()
        assert stored.sealed
        assert secret.encode() not in bytes(stored.secret)
        # And it still works: the sealed secret opens for the check.
        done = client.post(
            "/sign-in/mfa", json={"mfa_token": mfa_token(client), "code": code_at(secret, clock)}
        )
        assert done.status_code == 200
