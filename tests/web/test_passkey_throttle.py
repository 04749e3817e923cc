"""The throttles of passwordless sign-in. The signed-out page asks for a challenge (POST
/passkeys/authenticate/options) on every load, for passkey autofill, so challenges are
counted per IP under a rule of their own (AUTHGATE_THROTTLE_PASSKEY_OPTIONS); the sign-in
itself (POST /sign-in/passkey) counts against AUTHGATE_THROTTLE_SIGN_IN_IP like any other."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import RETRY_AFTER_SECONDS, MakeClient

OPTIONS = "/passkeys/authenticate/options"


def wrong_sign_in(client: TestClient) -> int:
    answer = client.post("/sign-in", json={"email": "nobody@example.com", "password": "wrong"})
    return answer.status_code


def test_options_are_refused_with_429_past_their_own_limit(make_client: MakeClient) -> None:
    strict = make_client(throttle_passkey_options="2/minute")

    answers = [strict.post(OPTIONS) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert RETRY_AFTER_SECONDS.fullmatch(answers[2].headers["Retry-After"])


def test_many_options_spend_none_of_the_sign_in_attempts_of_the_ip(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_ip="2/minute")

    loads = [strict.post(OPTIONS).status_code for _ in range(10)]

    assert loads == [200] * 10
    assert [wrong_sign_in(strict) for _ in range(3)] == [401, 401, 429]


def test_a_passkey_sign_in_counts_against_the_sign_in_attempts_of_the_ip(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_ip="2/minute")
    junk = {"credential": {"id": "bm90LWEta2V5", "type": "public-key"}}

    statuses = [strict.post("/sign-in/passkey", json=junk).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
