"""POST /sign-up: 201 with the new user, 409 for a taken e-mail, 422 for bad input, 413, 429."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from helpers import PASSWORD

from .helpers import RETRY_AFTER_SECONDS, FromIp, MakeClient, is_error_body

EMAIL = "ada@example.com"
ONE_MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def raw(content: bytes, content_type: str = "application/json") -> dict[str, Any]:
    """Request arguments that send `content` byte for byte."""
    return {"content": content, "headers": {"Content-Type": content_type}}


def fields(**values: object) -> dict[str, Any]:
    return {"json": values}


def test_sign_up_answers_201_with_the_id_email_and_creation_time(client: TestClient) -> None:
    response = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 201
    assert set(response.json()) == {"id", "email", "created_at"}


def test_sign_up_returns_the_email_and_the_creation_time_from_the_clock(
    client: TestClient, clock: FrozenClock
) -> None:
    body = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).json()

    assert body["email"] == EMAIL
    assert datetime.fromisoformat(body["created_at"]) == clock()


def test_sign_up_gives_each_user_its_own_id(client: TestClient) -> None:
    ada = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).json()
    bob = client.post("/sign-up", json={"email": "bob@example.com", "password": PASSWORD}).json()

    assert ada["id"] != bob["id"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("ada@example.com", "ada@example.com", id="same-case"),
        pytest.param("ada@example.com", "ADA@EXAMPLE.COM", id="upper-case"),
        pytest.param("Ada@Example.com", "ada@example.com", id="lower-case"),
        pytest.param("ada@example.com", "aDa@eXample.Com", id="mixed-case"),
    ],
)
def test_sign_up_refuses_an_email_taken_in_another_case(
    client: TestClient, first: str, second: str
) -> None:
    assert client.post("/sign-up", json={"email": first, "password": PASSWORD}).status_code == 201

    response = client.post("/sign-up", json={"email": second, "password": "another passphrase 9"})

    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"


INVALID_SIGN_UPS = [
    pytest.param(fields(email="ada.example.com", password=PASSWORD), id="email-without-at"),
    pytest.param(fields(email="@example.com", password=PASSWORD), id="email-without-local-part"),
    pytest.param(fields(email="ada lovelace@example.com", password=PASSWORD), id="email-space"),
    pytest.param(fields(email="", password=PASSWORD), id="email-empty"),
    pytest.param(fields(email="a" * 300 + "@example.com", password=PASSWORD), id="email-too-long"),
    pytest.param(fields(email="ada\x00@example.com", password=PASSWORD), id="email-nul-byte"),
    pytest.param(fields(email=EMAIL, password="short"), id="password-too-short"),
    pytest.param(fields(email=EMAIL, password="7 chars"), id="password-one-too-short"),
    pytest.param(fields(email=EMAIL, password="password"), id="password-too-common"),
    pytest.param(fields(email=EMAIL, password="PassWord1"), id="password-common-any-case"),
    pytest.param(fields(email=EMAIL, password="x" * 1025), id="password-1025-chars"),
    pytest.param(fields(password=PASSWORD), id="email-missing"),
    pytest.param(fields(email=EMAIL), id="password-missing"),
    pytest.param(fields(email=12345, password=PASSWORD), id="email-number"),
    pytest.param(fields(email=EMAIL, password=[PASSWORD]), id="password-list"),
    pytest.param(fields(email=None, password=PASSWORD), id="email-null"),
    pytest.param(fields(email=EMAIL, password={"$gt": ""}), id="password-object"),
    pytest.param(raw(b"[]"), id="body-list"),
    pytest.param(raw(b"null"), id="body-null"),
    pytest.param(raw(b"42"), id="body-number"),
    pytest.param(raw(b""), id="body-empty"),
    pytest.param(raw(b'{"email": "ada@example.com", "password": '), id="malformed-json"),
    pytest.param(raw(b"\xff\xfe{}"), id="not-utf8"),
    pytest.param(
        raw(json.dumps({"email": EMAIL, "password": PASSWORD}).encode(), "text/plain"),
        id="json-sent-as-text-plain",
    ),
    pytest.param(
        raw(b"email=ada%40example.com&password=correct+horse", "application/x-www-form-urlencoded"),
        id="form-encoded",
    ),
    pytest.param(
        raw(b'{"email": "ada@example.com", "password": "\\ud800 long enough passphrase"}'),
        id="password-lone-surrogate",
    ),
    pytest.param(
        raw(b'{"email": "ada\\u0000@example.com", "password": "correct horse battery"}'),
        id="email-escaped-nul",
    ),
]


@pytest.mark.parametrize("request_args", INVALID_SIGN_UPS)
def test_sign_up_refuses_bad_input_with_422_and_an_error_body(
    client: TestClient, request_args: dict[str, Any]
) -> None:
    response = client.post("/sign-up", **request_args)

    assert response.status_code == 422
    assert is_error_body(response.json())


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("8 chars!", id="exactly-8-chars"),
        pytest.param("é" * 1024, id="1024-chars-2048-bytes"),
    ],
)
def test_sign_up_accepts_a_password_at_the_length_limits(client: TestClient, password: str) -> None:
    response = client.post("/sign-up", json={"email": EMAIL, "password": password})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[" * 100_000, id="unclosed-arrays"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="closed-arrays"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="nested-objects"),
    ],
)
def test_sign_up_answers_deeply_nested_json_with_a_client_error(
    client: TestClient, content: bytes
) -> None:
    response = client.post("/sign-up", content=content, headers=JSON)

    assert 400 <= response.status_code < 500
    assert is_error_body(response.json())


def padded_sign_up(size: int) -> bytes:
    """A valid sign-up body padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def chunks(content: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """Stream `content`, so the request goes chunked, without a Content-Length."""
    for start in range(0, len(content), size):
        yield content[start : start + size]


def test_sign_up_accepts_a_body_of_exactly_one_mebibyte(client: TestClient) -> None:
    response = client.post("/sign-up", content=padded_sign_up(ONE_MIB), headers=JSON)

    assert response.status_code == 201


@pytest.mark.parametrize(
    "streamed",
    [pytest.param(False, id="with-content-length"), pytest.param(True, id="chunked")],
)
def test_sign_up_refuses_a_body_over_one_mebibyte_with_413(
    client: TestClient, streamed: bool
) -> None:
    body = padded_sign_up(ONE_MIB + 1)

    response = client.post("/sign-up", content=chunks(body) if streamed else body, headers=JSON)

    assert response.status_code == 413
    assert is_error_body(response.json())


def test_sign_up_creates_no_user_from_a_body_over_one_mebibyte(client: TestClient) -> None:
    client.post("/sign-up", content=chunks(padded_sign_up(ONE_MIB + 1)), headers=JSON)

    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 401


def sign_up_n_times(client: TestClient, count: int) -> list[int]:
    return [
        client.post(
            "/sign-up", json={"email": f"user{i}@example.com", "password": PASSWORD}
        ).status_code
        for i in range(count)
    ]


def test_sign_up_is_throttled_per_ip_with_429(make_client: MakeClient) -> None:
    strict = make_client(throttle_sign_up="2/minute")

    assert sign_up_n_times(strict, 3) == [201, 201, 429]


def test_sign_up_throttle_says_when_to_retry_in_whole_seconds(make_client: MakeClient) -> None:
    strict = make_client(throttle_sign_up="1/minute")
    sign_up_n_times(strict, 1)

    response = strict.post("/sign-up", json={"email": "late@example.com", "password": PASSWORD})

    assert response.status_code == 429
    assert RETRY_AFTER_SECONDS.fullmatch(response.headers["Retry-After"])
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_sign_up_throttle_leaves_other_ips_alone(make_client: MakeClient, from_ip: FromIp) -> None:
    first = make_client(throttle_sign_up="1/minute", ip="192.0.2.1")
    sign_up_n_times(first, 2)
    other = from_ip(first, "192.0.2.2")

    response = other.post("/sign-up", json={"email": "bob@example.com", "password": PASSWORD})

    assert response.status_code == 201
