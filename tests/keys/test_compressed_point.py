"""An ECDSA key whose point is compressed (SEC1 0x02/0x03) is refused with its own message,
on every parser that reads SSH wire keys (issue 12, item 1).

Fixtures made by openssl: tests/vectors/make_hostile_vectors.sh (it also records what
``ssh-keygen -l`` says about one: OpenSSH refuses these keys too).
"""

from __future__ import annotations

import base64

import pytest

from gitward.ca.certificate import parse_certificate
from gitward.errors import CertificateError, KeyFormatError
from gitward.keys import load_public_key
from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED, decode_public_blob
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.keys.wire import WireWriter
from tests.ca.certbuilder import build, make_key
from tests.conftest import VECTORS

HOSTILE = VECTORS / "hostile"
BITS = ["256", "384", "521"]


def compressed(bits: str) -> bytes:
    return (HOSTILE / f"ecdsa{bits}_compressed.pub").read_bytes()


def test_ok_openssh_refuses_the_fixture_too() -> None:
    said = (HOSTILE / "ssh-keygen-l.txt").read_text()
    assert "is not a public key file" in said


@pytest.mark.parametrize("bits", BITS)
def test_ok_the_same_key_uncompressed_is_accepted(bits: str) -> None:
    data = (HOSTILE / f"ecdsa{bits}_uncompressed.pub").read_bytes()
    assert validate_public_key_upload(data, KeyPurpose.USER).key_type == f"ecdsa-sha2-nistp{bits}"


@pytest.mark.parametrize("purpose", list(KeyPurpose))
@pytest.mark.parametrize("bits", BITS)
def test_fail_upload_names_the_compressed_point(bits: str, purpose: KeyPurpose) -> None:
    with pytest.raises(KeyFormatError) as caught:
        validate_public_key_upload(compressed(bits), purpose)
    assert caught.value.message == COMPRESSED_POINT_REFUSED
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("bits", BITS)
def test_fail_loaders_name_the_compressed_point(bits: str) -> None:
    data = compressed(bits)
    blob = base64.b64decode(data.split()[1])
    for parse in (load_public_key, lambda _: decode_public_blob(blob)):
        with pytest.raises(KeyFormatError) as caught:
            parse(data)
        assert caught.value.message == COMPRESSED_POINT_REFUSED


def test_fail_certificate_of_a_compressed_key() -> None:
    blob = base64.b64decode(compressed("256").split()[1])
    fields = blob[len(WireWriter().string("ecdsa-sha2-nistp256").getvalue()) :]
    cert = build(subject=make_key("nistp256"), subject_fields=fields)
    with pytest.raises(CertificateError) as caught:
        parse_certificate(cert)
    assert caught.value.message == COMPRESSED_POINT_REFUSED


@pytest.mark.parametrize("bits", BITS)
def test_ok_a_compressed_spki_converts_like_ssh_keygen(bits: str) -> None:
    """Outside SSH's wire form a compressed point is fine: `ssh-keygen -i -m PKCS8` reads
    openssl's compressed SubjectPublicKeyInfo and writes the uncompressed SSH key; so do we."""
    key = load_public_key((HOSTILE / f"ecdsa{bits}_compressed.spki.pem").read_bytes())
    expected = (HOSTILE / f"ecdsa{bits}_uncompressed.pub").read_text().split()[1]
    assert base64.b64encode(key.blob).decode() == expected
