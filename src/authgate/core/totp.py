"""Time-based one-time passwords (RFC 6238 through pyotp) and recovery codes.

TOTP: SHA-1, 6 digits, 30-second steps, the current step's code plus as many steps of drift
either way as the operator allows (none by default, so a code lives 30 seconds: ASVS 5.0
V6.5.5), and each step's code accepted once (the store keeps the last step used). Recovery
codes: 120 random bits each (ASVS 5.0 V6.5.2: at 112 bits or more a fast hash is enough),
shown once, kept only as HMAC-SHA256 under a server key, so a copy of the database alone
cannot be searched for them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

DIGITS = 6
STEP_SECONDS = 30
RECOVERY_CODES = 10
RECOVERY_CODE_BYTES = 15  # 120 bits: 24 base32 characters, shown as six groups of four


def new_secret() -> str:
    """A 160-bit secret in base32, as RFC 4226 §4 recommends and authenticator apps expect."""
    import pyotp

    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://totp/…` URI authenticator apps read from the QR code."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a QR code in SVG, rendered here (no third-party service sees the secret)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False)
    return out.getvalue().decode()


def matching_step(
    secret: str, code: str, *, now: datetime, after: int | None, drift_steps: int
) -> int | None:
    """The time step whose code `code` is, if later than `after`; else None.

    The steps tried are the current one and `drift_steps` either side of it (RFC 6238 §5.2
    allows for network delay and clock drift; each step of it adds 60 seconds to a code's
    life, so ASVS 5.0 V6.5.5's 30 seconds means 0). A step at or before `after` was used
    already: its code is refused (replay).
    """
    import pyotp

    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - drift_steps, current + drift_steps + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes as people copy them: `abcd-efgh-ijkl-mnop-qrst-uvwx` (lowercase base32)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def normalize_recovery_code(code: str) -> str:
    """What a person typed, as stored: no spaces or dashes, lowercase."""
    return "".join(c for c in code.lower() if c not in " -\t")


def hash_recovery_code(code: str, *, key: bytes) -> str:
    return hmac.new(key, normalize_recovery_code(code).encode(), hashlib.sha256).hexdigest()
