"""A passkey authenticator in software, for tests that talk to the API without a browser.

It does what a platform authenticator and the browser in front of it do (CTAP2 and WebAuthn
L3): an ES256 key per discoverable credential, authenticator data with its flags and
signature counter, `none` attestation, and clientDataJSON with the challenge and origin,
all in the JSON forms browsers send (`PublicKeyCredential.toJSON()`). Its answers are
verified by py_webauthn like any other; keyword arguments make the forged ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One discoverable credential the authenticator holds."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0


class SoftAuthenticator:
    """A platform authenticator with user verification, and the browser on `origin`.

    `synced`: its credentials are backup eligible and backed up (a synced passkey);
    `counting`: it keeps a signature counter (synced passkeys send 0 instead).
    """

    def __init__(self, origin: str, *, synced: bool = False, counting: bool = True) -> None:
        self.origin = origin
        self.synced = synced
        self.counting = counting
        self.credentials: list[Credential] = []

    def create(
        self,
        options: Mapping[str, object],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        client_type: str = "webauthn.create",
        credential: Credential | None = None,
        cross_origin: bool = False,
    ) -> dict[str, object]:
        """Make a credential for the creation options, as `navigator.credentials.create()`
        (or present `credential` again, as an honest authenticator would not)."""
        rp = options["rp"]
        user = options["user"]
        assert isinstance(rp, dict)
        assert isinstance(user, dict)
        if credential is None:
            credential = Credential(
                id=secrets.token_bytes(32),
                key=ec.generate_private_key(ec.SECP256R1()),
                rp_id=rp_id or str(rp["id"]),
                user_handle=unb64url(str(user["id"])),
            )
            self.credentials.append(credential)
        numbers = credential.key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = AAGUID + struct.pack(">H", len(credential.id)) + credential.id + cose_key
        auth_data = self._auth_data(credential, user_verified=user_verified, flags=AT) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            client_type, str(options["challenge"]), origin, cross_origin
        )
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: Mapping[str, object],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        counter: int | None = None,
        synced: bool | None = None,
        client_type: str = "webauthn.get",
        cross_origin: bool = False,
    ) -> dict[str, object]:
        """Sign the request options' challenge, as `navigator.credentials.get()` does with
        the (newest) discoverable credential for the RP id."""
        rp = str(options["rpId"])
        chosen = credential or [c for c in self.credentials if c.rp_id == rp][-1]
        if counter is not None:
            chosen.counter = counter
        elif self.counting:
            chosen.counter += 1
        auth_data = self._auth_data(
            chosen, user_verified=user_verified, rp_id=rp_id, synced=synced, flags=0
        )
        client_data = self._client_data(
            client_type, str(options["challenge"]), origin, cross_origin
        )
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = chosen.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(chosen.id),
            "rawId": b64url(chosen.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(chosen.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _auth_data(
        self,
        credential: Credential,
        *,
        user_verified: bool,
        flags: int,
        rp_id: str | None = None,
        synced: bool | None = None,
    ) -> bytes:
        flags |= UP | (UV if user_verified else 0)
        if self.synced if synced is None else synced:
            flags |= BE | BS
        rp_hash = hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", credential.counter)

    def _client_data(
        self, kind: str, challenge: str, origin: str | None, cross_origin: bool
    ) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": cross_origin}).encode()
