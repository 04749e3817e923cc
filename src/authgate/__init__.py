"""authgate: JWT authentication service and verifier.

Protected apps import from here; the server lives in `authgate.web` (the `server` extra).
"""

from authgate.core.keys import KeyRing, SigningKey
from authgate.core.tokens import AccessClaims, read_access_token
from authgate.errors import (
    AuthgateError,
    ConfigurationError,
    ExpiredToken,
    ForeignToken,
    InvalidToken,
    MalformedToken,
    RevokedToken,
    UntrustedToken,
)

__version__ = "0.1.0"

__all__ = [
    "AccessClaims",
    "AuthgateError",
    "ConfigurationError",
    "ExpiredToken",
    "ForeignToken",
    "InvalidToken",
    "KeyRing",
    "MalformedToken",
    "RevokedToken",
    "SigningKey",
    "UntrustedToken",
    "read_access_token",
]
