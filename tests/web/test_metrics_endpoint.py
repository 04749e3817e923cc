"""GET /metrics over HTTP, and the JWKS's ETag."""

from __future__ import annotations

from fastapi.testclient import TestClient

from helpers import PASSWORD, bearer, sign_up_and_in

from .helpers import MakeClient


def value(text: str, name: str) -> float:
    """The value of the sample line that starts with `name` (labels included)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


def test_metrics_count_sign_ins_refreshes_and_verifications(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post("/sign-in", json={"email": "ada@example.com", "password": "wrong password"})
    client.post("/token", json={"refresh_token": tokens["refresh_token"]})
    client.get("/me", headers=bearer(tokens["access_token"]))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, 'authgate_sign_ins_total{outcome="success"}') == 1
    assert value(text, 'authgate_sign_ins_total{outcome="invalid_credentials"}') == 1
    assert value(text, 'authgate_refreshes_total{outcome="rotated"}') == 1
    assert value(text, "authgate_token_verify_seconds_count") >= 1
    assert value(text, "authgate_hashing_queue_depth") == 0


def test_metrics_count_throttled_requests_by_rule(make_client: MakeClient) -> None:
    strict = make_client(throttle_sign_in_account="1/minute")
    sign_up_and_in(strict)
    for _ in range(3):
        strict.post("/sign-in", json={"email": "ada@example.com", "password": "wrong password"})

    text = strict.get("/metrics").text

    assert value(text, 'authgate_throttled_total{rule="sign_in_account"}') == 2
    assert PASSWORD not in text


def test_the_jwks_answers_304_to_its_own_etag(client: TestClient) -> None:
    first = client.get("/.well-known/jwks.json")
    etag = first.headers["ETag"]

    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    other = client.get("/.well-known/jwks.json", headers={"If-None-Match": '"stale"'})

    assert again.status_code == 304
    assert again.content == b""
    assert other.status_code == 200
    assert other.json() == first.json()
