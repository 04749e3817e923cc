"""authgate: JWT authentication service and verifier.

Protected apps import from here (`Verifier`, `AccessClaims`, the errors); the server lives
in `authgate.web` (the `server` extra), the framework adapters in `authgate.verifier.*`.
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
    StaleAuthentication,
    UntrustedToken,
)
from authgate.verifier import RemoteKeys, StaticKeys, Verifier

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
    "RemoteKeys",
    "RevokedToken",
    "SigningKey",
    "StaleAuthentication",
    "StaticKeys",
    "UntrustedToken",
    "Verifier",
    "read_access_token",
]
