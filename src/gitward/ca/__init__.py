"""Certificate authorities: parsing OpenSSH certificates and their options (pure code)."""

from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    USER_CERT,
    Certificate,
    parse_certificate,
    parse_certificate_line,
    verify_certificate_signature,
)

__all__ = [
    "FOREVER",
    "HOST_CERT",
    "USER_CERT",
    "Certificate",
    "parse_certificate",
    "parse_certificate_line",
    "verify_certificate_signature",
]
