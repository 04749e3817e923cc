"""A signed-out session's access token, re-encoded, is still refused (STYLE.md §8).

Revocation must follow the session, not the token's bytes: a token can be spelt in other
ways that some decoder might still accept (padding, the standard base64 alphabet, white
space, a differently cased scheme) and, under ECDSA, signed a second way with no key at
all, since (r, n - s) verifies wherever (r, s) does. Every row takes the access token of a
session that was ended with POST /sign-out and must be refused, by the core and by a
guarded route, whether or not the re-encoded token still verifies.
"""

from __future__ import annotations

import base64
import dataclasses
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD, bearer, sign_up_and_in

# The order n of the P-256 group (SEC 2, secp256r1): if (r, s) is a signature, so is (r, n-s).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
EMAIL = "ada@example.com"

Reencode = Callable[[str], str]


@dataclass(frozen=True)
class Scene:
    """An app, its service, and two access tokens of one user: one signed out, one live."""

    client: TestClient
    service: Service
    revoked: str
    live: str


def start_scene(tmp_path_factory: pytest.TempPathFactory, algorithm: str) -> Iterator[Scene]:
    base = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp(algorithm) / 'authgate.db'}",
        **GENEROUS_THROTTLES,
    )
    settings = dataclasses.replace(base, algorithm=algorithm)
    clock = FrozenClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock, preset=FAST_FOR_TESTS)
    with TestClient(app) as client:
        live = sign_up_and_in(client, EMAIL)["access_token"]
        yield Scene(client, app.state.service, signed_out_token(client), live)


def signed_out_token(client: TestClient) -> str:
    """The access token of a session ended with POST /sign-out.

    One with a "-" or "_" in it, so that the standard-alphabet rows really change it:
    JSON text rarely encodes to them, and an ES256 signature lacks both 1 time in 15.
    """
    for _ in range(20):
        body = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
        assert client.post("/sign-out", headers=bearer(body["access_token"])).status_code == 204
        if {"-", "_"} & set(body["access_token"]):
            token: str = body["access_token"]
            return token
    raise AssertionError("20 access tokens in a row without a '-' or '_'")


@pytest.fixture(scope="module")
def rs256(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from start_scene(tmp_path_factory, "RS256")


@pytest.fixture(scope="module")
def es256(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from start_scene(tmp_path_factory, "ES256")


@pytest.fixture(params=["rs256", "es256"])
def scene(request: pytest.FixtureRequest) -> Scene:
    chosen: Scene = request.getfixturevalue(request.param)
    return chosen


# -- re-encodings --------------------------------------------------------------


def changed(reencode: Reencode) -> Reencode:
    """`reencode`, checked to really change the token: a no-op row would prove nothing."""

    def checked(token: str) -> str:
        result = reencode(token)
        assert result != token, "the re-encoding left this token unchanged"
        return result

    return checked


def on_segment(index: int, edit: Callable[[str], str]) -> Reencode:
    def reencode(token: str) -> str:
        parts = token.split(".")
        parts[index] = edit(parts[index])
        return ".".join(parts)

    return reencode


def padded(index: int, padding: str) -> Reencode:
    return on_segment(index, lambda segment: segment + padding)


def canonically_padded(token: str) -> str:
    """Each segment padded as standard base64 would pad it (JWS forbids the padding)."""
    return ".".join(s + "=" * (-len(s) % 4) for s in token.split("."))


def in_the_standard_alphabet(token: str) -> str:
    return token.translate(str.maketrans("-_", "+/"))


def unpadded_standard_base64(token: str) -> str:
    """Each segment re-encoded from its bytes with base64.b64encode, as a careless client might."""
    return ".".join(
        base64.b64encode(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))).decode()
        for s in token.split(".")
    )


def inserted(text: str, where: str) -> Reencode:
    """`text` inserted mid-payload, before the signature, or around the whole token."""

    def reencode(token: str) -> str:
        head, payload, signature = token.split(".")
        half = len(payload) // 2
        return {
            "mid-payload": f"{head}.{payload[:half]}{text}{payload[half:]}.{signature}",
            "before-signature": f"{head}.{payload}.{text}{signature}",
            "leading": text + token,
            "trailing": token + text,
        }[where]

    return reencode


def mime_line_breaks(token: str) -> str:
    """Wrapped every 76 characters with CRLF, as MIME base64 is."""
    return "\r\n".join(textwrap.wrap(token, 76))


REENCODINGS = [
    *(
        pytest.param(changed(padded(index, padding)), id=f"{name}-padded-{len(padding)}")
        for index, name in enumerate(("header", "payload", "signature"))
        for padding in ("=", "==")
    ),
    pytest.param(changed(canonically_padded), id="every-segment-canonically-padded"),
    pytest.param(changed(in_the_standard_alphabet), id="standard-alphabet-plus-slash"),
    pytest.param(changed(unpadded_standard_base64), id="bytes-re-encoded-standard-base64"),
    pytest.param(changed(inserted(" ", "mid-payload")), id="space-mid-payload"),
    pytest.param(changed(inserted("\n", "mid-payload")), id="newline-mid-payload"),
    pytest.param(changed(inserted("\t", "mid-payload")), id="tab-mid-payload"),
    pytest.param(changed(inserted("\r\n", "before-signature")), id="crlf-before-signature"),
    pytest.param(changed(inserted(" ", "leading")), id="leading-space"),
    pytest.param(changed(inserted("\n", "trailing")), id="trailing-newline"),
    pytest.param(changed(mime_line_breaks), id="mime-line-breaks"),
]

SCHEMES = [
    pytest.param("bearer", id="lowercase-bearer"),
    pytest.param("BEARER", id="uppercase-bearer"),
    pytest.param("bEaReR", id="mixed-case-bearer"),
    pytest.param("Bearer ", id="two-spaces-after-scheme"),
]


def guard_answer(client: TestClient, authorization: str) -> tuple[int, str, str]:
    """(status, error code, WWW-Authenticate) of GET /test with this Authorization header."""
    response = client.get("/test", headers={"Authorization": authorization})
    return (
        response.status_code,
        response.json().get("error", "") if response.status_code >= 400 else "",
        response.headers.get("WWW-Authenticate", ""),
    )


INVALID_TOKEN = (401, "invalid_token", 'Bearer error="invalid_token"')


def test_the_live_token_is_accepted(scene: Scene) -> None:
    """The control: the same user's other session still passes, by core and route alike."""
    assert scene.service.read(scene.live).email == EMAIL
    assert scene.client.get("/test", headers=bearer(scene.live)).status_code == 200


def test_the_signed_out_token_as_issued_is_refused_by_the_core(scene: Scene) -> None:
    with pytest.raises(InvalidToken):
        scene.service.read(scene.revoked)


def test_the_signed_out_token_as_issued_is_refused_by_a_guarded_route(scene: Scene) -> None:
    assert guard_answer(scene.client, f"Bearer {scene.revoked}") == INVALID_TOKEN


@pytest.mark.parametrize("reencode", REENCODINGS)
def test_reencoded_signed_out_token_is_refused_by_the_core(
    reencode: Reencode, scene: Scene
) -> None:
    with pytest.raises(InvalidToken):
        scene.service.read(reencode(scene.revoked))


@pytest.mark.parametrize("reencode", REENCODINGS)
def test_reencoded_signed_out_token_is_refused_by_a_guarded_route(
    reencode: Reencode, scene: Scene
) -> None:
    outcome = guard_answer(scene.client, f"Bearer {reencode(scene.revoked)}")

    assert outcome == INVALID_TOKEN


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signed_out_token_under_another_spelling_of_bearer_is_refused(
    scheme: str, scene: Scene
) -> None:
    outcome = guard_answer(scene.client, f"{scheme} {scene.revoked}")

    assert outcome == INVALID_TOKEN


@pytest.mark.parametrize("scheme", SCHEMES)
def test_live_token_under_another_spelling_of_bearer_is_accepted(scheme: str, scene: Scene) -> None:
    """The control for the scheme rows: the scheme is case-insensitive (RFC 9110 §11.1)."""
    response = scene.client.get("/test", headers={"Authorization": f"{scheme} {scene.live}"})

    assert response.status_code == 200


# -- the other ECDSA signature ------------------------------------------------------


def ecdsa_twin(token: str) -> str:
    """The same token with its ES256 signature (r, s) replaced by (r, n - s)."""
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin = r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big")
    return f"{head}.{payload}.{base64.urlsafe_b64encode(twin).decode().rstrip('=')}"


def read_or_refuse(service: Service, token: str) -> AccessClaims | str:
    try:
        return service.read(token)
    except InvalidToken:
        return "refused"


def test_ecdsa_twin_is_a_valid_signature_of_the_same_content(es256: Scene) -> None:
    """The attack input is real: checked with `cryptography` alone, the twin verifies."""
    twin = ecdsa_twin(es256.revoked)
    head, payload, signature = twin.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key = es256.service.parts.keys.signing.jwk
    assert isinstance(key, ECKey)
    public = key.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    try:
        public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail("(r, n - s) should verify wherever (r, s) does")
    assert twin != es256.revoked


def test_ecdsa_twin_of_a_signed_out_token_is_refused_by_the_core(es256: Scene) -> None:
    with pytest.raises(InvalidToken):
        es256.service.read(ecdsa_twin(es256.revoked))


def test_ecdsa_twin_of_a_signed_out_token_is_refused_by_a_guarded_route(es256: Scene) -> None:
    outcome = guard_answer(es256.client, f"Bearer {ecdsa_twin(es256.revoked)}")

    assert outcome == INVALID_TOKEN


def test_ecdsa_twin_of_a_live_token_never_reads_as_other_claims(es256: Scene) -> None:
    """Malleable, not forgeable: the twin is refused or says exactly what the original says.

    With joserfc 1.8 and cryptography 50 the twin verifies (neither insists on a low s);
    that is harmless because revocation is by session id, which the twin shares.
    """
    original = es256.service.read(es256.live)

    assert read_or_refuse(es256.service, ecdsa_twin(es256.live)) in (original, "refused")


def test_ecdsa_twin_of_a_live_token_is_no_server_error(es256: Scene) -> None:
    response = es256.client.get("/test", headers=bearer(ecdsa_twin(es256.live)))

    assert response.status_code in (200, 401)
