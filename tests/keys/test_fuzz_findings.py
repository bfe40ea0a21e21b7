"""Inputs the fuzzer (fuzz/, issue 12) found, kept as regressions."""

from __future__ import annotations

import pytest

from gitward.errors import KeyFormatError
from gitward.keys import formats, inspect_key, load_private_key

# openssl_ed25519.pkcs8 with its algorithm OID changed to X448 (1.3.101.111) over the
# 32-byte Ed25519 key: OpenSSL fails to build the key and cryptography raised its untyped
# InternalError out of the PEM module (the API's net hid it as "could not be read").
X448_OID_OVER_ED25519 = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VvBCIEIIkROVxIz0qZKRXkBwypYKA/k0JQWYzdqvTXHwt6XsSi\n"
    b"-----END PRIVATE KEY-----\n"
)


def test_fail_openssl_internal_error_is_a_key_format_error() -> None:
    codec = formats.detect(X448_OID_OVER_ED25519)
    assert codec.load_private is not None
    with pytest.raises(KeyFormatError, match="damaged or not a key"):
        codec.load_private(X448_OID_OVER_ED25519, None)
    with pytest.raises(KeyFormatError):
        codec.peek(X448_OID_OVER_ED25519)
    for api in (inspect_key, lambda d: load_private_key(d, None)):
        with pytest.raises(KeyFormatError):
            api(X448_OID_OVER_ED25519)
