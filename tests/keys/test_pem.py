"""The OpenSSL formats beyond what ``cryptography`` does alone: KDF costs bounded before
decrypting, PuTTY's short SEC1 scalars, DER detection."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gitward.errors import KeyFormatError
from gitward.keys import KeyFormat, detect_format, inspect_key, load_private_key

from .conftest import PASSPHRASE, vector


def tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes((value.bit_length() + 8) // 8, "big"))


def oid(hex_body: str) -> bytes:
    return tlv(0x06, bytes.fromhex(hex_body))


def pem(label: str, der: bytes) -> bytes:
    return (
        f"-----BEGIN {label}-----\n".encode()
        + base64.encodebytes(der)
        + f"-----END {label}-----\n".encode()
    )


PBES2, PBKDF2, SCRYPT = "2a864886f70d01050d", "2a864886f70d01050c", "2b06010401da47040b"
AES256_CBC = "60864801650304012a"  # 2.16.840.1.101.3.4.1.42


def _encrypted_pkcs8(kdf: bytes) -> bytes:
    scheme = seq(oid(AES256_CBC), tlv(0x04, bytes(16)))
    return seq(seq(oid(PBES2), seq(kdf, scheme)), tlv(0x04, bytes(64)))


@pytest.mark.parametrize(
    ("kdf", "message"),
    [
        (seq(oid(PBKDF2), seq(tlv(0x04, bytes(8)), integer(2**31 - 1))), "KDF iterations"),
        (seq(oid(PBKDF2), seq(tlv(0x04, bytes(8)), integer(0))), "KDF iterations"),
        (
            seq(oid(SCRYPT), seq(tlv(0x04, bytes(8)), integer(2**20), integer(8), integer(64))),
            "scrypt",
        ),
    ],
    ids=["fail/pbkdf2-2^31", "fail/pbkdf2-0", "fail/scrypt-huge"],
)
def test_encrypted_pkcs8_kdf_cost_is_refused_before_work(kdf: bytes, message: str) -> None:
    der = _encrypted_pkcs8(kdf)
    for data in (pem("ENCRYPTED PRIVATE KEY", der), der):
        with pytest.raises(KeyFormatError, match=message):
            load_private_key(data, PASSPHRASE)


def test_puttygens_short_p521_scalar_is_read() -> None:
    # A scalar with a zero top byte: PuTTY writes 65 bytes where SEC1 wants 66.
    d = int.from_bytes(bytes([0]) + bytes(range(1, 66)), "big")
    key = ec.derive_private_key(d, ec.SECP521R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    scalar = d.to_bytes(66, "big").lstrip(b"\0")
    assert len(scalar) == 65
    der = seq(
        integer(1),
        tlv(0x04, scalar),
        tlv(0xA0, oid("2b81040023")),
        tlv(0xA1, tlv(0x03, b"\0" + point)),
    )
    loaded = load_private_key(pem("EC PRIVATE KEY", der))
    assert loaded.public.blob.endswith(point)
    # A public point that does not belong to the scalar is refused.
    other = (
        ec.generate_private_key(ec.SECP521R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    forged = seq(
        integer(1),
        tlv(0x04, scalar),
        tlv(0xA0, oid("2b81040023")),
        tlv(0xA1, tlv(0x03, b"\0" + other)),
    )
    with pytest.raises(KeyFormatError):
        load_private_key(pem("EC PRIVATE KEY", forged))


def test_puttygen_sec1_export_is_read() -> None:
    for bits in (256, 384, 521):
        key = load_private_key(vector(f"puttygen_ecdsa{bits}.pem"))
        assert key.public.same_key(load_private_key(vector(f"puttygen_ecdsa{bits}.ppk")).public)


def test_der_private_and_public_are_told_apart() -> None:
    private = vector("openssl_rsa2048.pkcs8.der")
    assert detect_format(private) is KeyFormat.DER
    assert inspect_key(private).is_private
    public_der = (
        load_private_key(private)
        .key.public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    info = inspect_key(public_der)
    assert not info.is_private and info.public is not None


def _short_p521_der() -> tuple[bytes, bytes]:
    d = int.from_bytes(bytes(range(2, 67)), "big")  # 65 bytes: top byte of 66 is zero
    key = ec.derive_private_key(d, ec.SECP521R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    der = seq(
        integer(1),
        tlv(0x04, d.to_bytes(65, "big")),
        tlv(0xA0, oid("2b81040023")),
        tlv(0xA1, tlv(0x03, b"\0" + point)),
    )
    return der, point


@pytest.mark.parametrize(
    ("dek", "key_len"), [("DES-EDE3-CBC", 24), ("AES-256-CBC", 32)], ids=lambda v: f"ok/{v}"
)
def test_encrypted_short_p521_scalar_is_read(dek: str, key_len: int) -> None:
    """PuTTY's `-O private-openssh` with a passphrase: DES-EDE3-CBC traditional PEM."""
    import hashlib

    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    der, point = _short_p521_der()
    block = 8 if dek.startswith("DES") else 16
    iv = bytes(range(block))
    material, last = b"", b""
    while len(material) < key_len:  # EVP_BytesToKey, MD5, one round
        last = hashlib.md5(last + PASSPHRASE + iv[:8]).digest()
        material += last
    cipher = TripleDES(material[:24]) if block == 8 else algorithms.AES(material[:32])
    padder = padding.PKCS7(block * 8).padder()
    padded = padder.update(der) + padder.finalize()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padded) + encryptor.finalize()
    data = (
        (
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
            f"DEK-Info: {dek},{iv.hex().upper()}\n\n"
        ).encode()
        + base64.encodebytes(sealed)
        + b"-----END EC PRIVATE KEY-----\n"
    )
    assert load_private_key(data, PASSPHRASE).public.blob.endswith(point)
    with pytest.raises(KeyFormatError):
        load_private_key(data, b"wrong")
