"""Validation of uploaded public keys: each refusal has its own message (issue 2, item 6).

Fixtures made by ssh-keygen: tests/vectors/upload/make_upload_vectors.sh.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitward.errors import GitwardError, KeyFormatError, KeyRejected
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from tests.conftest import VECTORS

UPLOAD = VECTORS / "upload"


def read(name: str) -> bytes:
    return (UPLOAD / name).read_bytes()


@pytest.mark.parametrize(
    "name, key_type",
    [
        ("ed25519_key.pub", "ssh-ed25519"),
        ("ecdsa256_key.pub", "ecdsa-sha2-nistp256"),
        ("ecdsa521_key.pub", "ecdsa-sha2-nistp521"),
        ("rsa2048_key.pub", "ssh-rsa"),
        ("rsa_pem_key.pub", "ssh-rsa"),
    ],
)
def test_ok_accepts_keys_ssh_keygen_writes(name: str, key_type: str) -> None:
    key = validate_public_key_upload(read(name), KeyPurpose.USER)
    assert key.key_type == key_type
    assert key.comment == read(name).decode().split()[2]
    assert key.openssh_line == " ".join(read(name).decode().split()[:2])


def test_ok_fingerprint_matches_ssh_keygen() -> None:
    # ssh-keygen -lf tests/vectors/upload/ed25519_key.pub, recorded with the fixtures' comment.
    key = validate_public_key_upload(read("ed25519_key.pub"), KeyPurpose.USER)
    expected = Path(UPLOAD / "fingerprints.txt").read_text().split()[1]
    assert key.fingerprint == expected


def test_ok_comment_lines_and_blank_lines_are_ignored() -> None:
    data = b"# my laptop\n\n" + read("ed25519_key.pub") + b"\n\n"
    assert validate_public_key_upload(data, KeyPurpose.USER).key_type == "ssh-ed25519"


@pytest.mark.parametrize(
    "case, data, error, message",
    [
        (
            "fail/private-openssh",
            "ed25519_key",
            KeyRejected,
            "this is a private key; upload the .pub file",
        ),
        (
            "fail/private-pem",
            "rsa_pem_key",
            KeyRejected,
            "this is a private key; upload the .pub file",
        ),
        ("fail/dsa", "dsa_key.pub", KeyRejected, "DSA keys are not accepted"),
        (
            "fail/rsa-1024",
            "rsa1024_key.pub",
            KeyRejected,
            "RSA keys must have at least 2048 bits, this one has 1024",
        ),
        (
            "fail/authorized-keys-options",
            "with_options.pub",
            KeyRejected,
            "this line carries authorized_keys options",
        ),
        ("fail/two-keys", "two_keys.pub", KeyRejected, "the upload holds 2 lines"),
        (
            "fail/certificate-as-user-key",
            "ed25519_key-cert.pub",
            KeyRejected,
            "this is an SSH certificate (-cert.pub), not a public key",
        ),
        ("fail/rfc4716", "ed25519_rfc4716.pub", KeyFormatError, "this is an RFC 4716"),
    ],
)
def test_fail_refusals_name_their_cause(
    case: str, data: str, error: type[GitwardError], message: str
) -> None:
    with pytest.raises(error) as info:
        validate_public_key_upload(read(data), KeyPurpose.USER)
    assert info.value.message.startswith(message), case


def test_fail_certificate_offered_as_ca_key() -> None:
    with pytest.raises(KeyRejected, match="this is a certificate, not a certificate authority"):
        validate_public_key_upload(read("ed25519_key-cert.pub"), KeyPurpose.CA)


def test_fail_private_key_content_never_reaches_message_or_cause() -> None:
    secret = read("ed25519_key")
    with pytest.raises(KeyRejected) as info:
        validate_public_key_upload(secret, KeyPurpose.USER)
    body = b"".join(secret.splitlines()[1:-1]).decode()
    for chunk in (body[:20], body[20:40], body[-20:]):
        assert chunk not in info.value.message
        assert chunk not in info.value.cause


@pytest.mark.parametrize(
    "case, data, message",
    [
        ("fail/garbage", b"hello world", "this is not an SSH public key"),
        ("fail/empty", b"\n  \n", "the upload is empty"),
        ("fail/binary", b"\xff\xfe\x00", "this is not an SSH public key"),
        ("fail/bad-base64", b"ssh-ed25519 AAAA!!!!", "the key's base64 data is damaged"),
        ("fail/no-data", b"ssh-ed25519", "the key has no data after its type"),
        ("fail/truncated", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", "the key's"),
        (
            "fail/type-mismatch",
            b"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "the key's type field does not match its data",
        ),
        ("fail/huge", b"a" * 70_000, "the upload is too large"),
    ],
)
def test_fail_malformed_input(case: str, data: bytes, message: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        validate_public_key_upload(data, KeyPurpose.USER)
    assert info.value.message.startswith(message), case
