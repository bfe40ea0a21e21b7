"""The OpenSSL formats, read and written by ``cryptography``: PEM PKCS#1 (``RSA PRIVATE
KEY``), SEC1 (``EC PRIVATE KEY``), traditional DSA, PKCS#8 plain and encrypted, binary DER,
and the public forms ``PUBLIC KEY`` (SubjectPublicKeyInfo) and ``RSA PUBLIC KEY``.

These formats carry no comment. The traditional ones ("pem") exist only for RSA, ECDSA
and DSA; an Ed25519 key has only PKCS#8.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from gitward.errors import KeyFormatError, KeyRejected, WrongPassphrase
from gitward.keys import algorithms as algs
from gitward.keys import der
from gitward.keys.armor import b64decode, check_size, pem_body, pem_labels, to_text
from gitward.keys.codec import FormatCodec, WriteOptions
from gitward.keys.model import (
    Algorithm,
    KeyFormat,
    KeyInfo,
    PassphraseRequired,
    PrivateKey,
    PublicKey,
)

# PEM label -> (format, algorithm the label implies)
PRIVATE_LABELS: dict[str, tuple[KeyFormat, Algorithm | None]] = {
    "RSA PRIVATE KEY": (KeyFormat.PKCS1, Algorithm.RSA),
    "EC PRIVATE KEY": (KeyFormat.SEC1, Algorithm.ECDSA),
    "DSA PRIVATE KEY": (KeyFormat.DSA_PEM, Algorithm.DSA),
    "PRIVATE KEY": (KeyFormat.PKCS8, None),
    "ENCRYPTED PRIVATE KEY": (KeyFormat.PKCS8, None),
}
PUBLIC_LABELS = {"PUBLIC KEY": KeyFormat.SPKI, "RSA PUBLIC KEY": KeyFormat.PKCS1_PUBLIC}
TRADITIONAL_FOR = {
    Algorithm.RSA: KeyFormat.PKCS1,
    Algorithm.ECDSA: KeyFormat.SEC1,
    Algorithm.DSA: KeyFormat.DSA_PEM,
}


def _private_label(data: bytes) -> str | None:
    for label in pem_labels(data):
        if label in PRIVATE_LABELS:
            return label
    return None


def _public_label(data: bytes) -> str | None:
    labels = pem_labels(data)
    return labels[0] if labels and labels[0] in PUBLIC_LABELS else None


def _is_encrypted(data: bytes, label: str) -> bool:
    return label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in data


def _as_ssh_private(key: PrivateKeyTypes) -> algs.SshPrivateKey:
    if isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
        | dsa.DSAPrivateKey,
    ):
        algs.ssh_key_type(key)  # refuses curves SSH does not use
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size > algs.MAX_RSA_BITS:
            raise KeyFormatError(f"the RSA key is larger than {algs.MAX_RSA_BITS} bits")
        return key
    raise KeyFormatError(
        f"this is a {type(key).__name__.replace('PrivateKey', '')} key, which SSH does not use",
        cause=type(key).__name__,
    )


def _as_ssh_public(key: PublicKeyTypes) -> algs.SshPublicKey:
    if isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
        | dsa.DSAPublicKey,
    ):
        algs.ssh_key_type(key)
        return key
    raise KeyFormatError(
        f"this is a {type(key).__name__.replace('PublicKey', '')} key, which SSH does not use",
        cause=type(key).__name__,
    )


def _load(
    loader: Callable[[bytes, bytes | None], PrivateKeyTypes],
    data: bytes,
    passphrase: bytes | None,
    encrypted: bool,
) -> PrivateKey:
    check_size(data)
    if encrypted and passphrase is None:
        raise PassphraseRequired("the key is encrypted: a passphrase is needed")
    if encrypted:
        _check_kdf_cost(data)
    try:
        key = loader(data, passphrase if encrypted else None)
    except TypeError as exc:
        raise KeyFormatError("the key could not be read", cause=repr(exc)) from exc
    except ValueError as exc:
        text = str(exc).lower()
        if encrypted and ("decrypt" in text or "password" in text):
            raise WrongPassphrase("wrong passphrase", cause=repr(exc)) from exc
        raise KeyFormatError("the key is damaged or not a key", cause=repr(exc)) from exc
    except UnsupportedAlgorithm as exc:
        raise KeyFormatError(
            "the key uses an algorithm or encryption Gitward cannot read", cause=repr(exc)
        ) from exc
    except InternalError as exc:
        # OpenSSL refusing a key it was asked to build, e.g. an X448 OID over 32 bytes
        # (found by fuzz/ key_pem): cryptography has no typed error for it.
        raise KeyFormatError("the key is damaged or not a key", cause=repr(exc)) from exc
    return PrivateKey(_as_ssh_private(key))


def _check_kdf_cost(data: bytes) -> None:
    """PKCS#8 names its KDF's cost in the file: bound it before OpenSSL runs it."""
    if data[:1] == b"\x30":
        der.check_kdf_cost(data)
    elif "ENCRYPTED PRIVATE KEY" in pem_labels(data):
        der.check_kdf_cost(pem_body(data, "ENCRYPTED PRIVATE KEY"))


def _pem_loader(data: bytes, passphrase: bytes | None) -> PrivateKeyTypes:
    try:
        return ser.load_pem_private_key(data, passphrase)
    except ValueError as exc:
        if "too short" not in str(exc) or "EC PRIVATE KEY" not in pem_labels(data):
            raise
        if passphrase is None:
            return _short_sec1(pem_body(data, "EC PRIVATE KEY"))
        return _short_sec1(_decrypt_traditional(data, passphrase))


# DEK-Info cipher -> (cipher factory, key length). PuTTY writes DES-EDE3-CBC, OpenSSL and
# cryptography AES-*-CBC.
_DEK_CIPHERS: dict[str, tuple[Callable[[bytes], BlockCipherAlgorithm], int]] = {
    "DES-EDE3-CBC": (TripleDES, 24),
    "AES-128-CBC": (algorithms.AES, 16),
    "AES-192-CBC": (algorithms.AES, 24),
    "AES-256-CBC": (algorithms.AES, 32),
}


def _decrypt_traditional(data: bytes, passphrase: bytes) -> bytes:
    """Decrypt a ``Proc-Type: 4,ENCRYPTED`` PEM body by hand (only needed for PuTTY's
    short SEC1 scalars, which ``cryptography`` refuses after decrypting them itself).
    The key is OpenSSL's EVP_BytesToKey: MD5 chained over passphrase and IV[:8]."""
    match = re.search(
        r"DEK-Info: *([A-Z0-9-]+),((?:[0-9A-Fa-f]{2}){8,16})\r?\n\s*\n"
        r"(.*?)-----END EC PRIVATE KEY-----",
        to_text(data),
        re.DOTALL,
    )
    if match is None or match.group(1) not in _DEK_CIPHERS:
        raise KeyFormatError("the encrypted PEM key is incomplete or names an unknown cipher")
    factory, key_len = _DEK_CIPHERS[match.group(1)]
    iv = bytes.fromhex(match.group(2))
    sealed = b64decode(match.group(3), what="EC PRIVATE KEY")
    material, block = b"", b""
    while len(material) < key_len:
        block = hashlib.md5(block + passphrase + iv[:8], usedforsecurity=False).digest()
        material += block
    cipher = factory(material[:key_len])
    if len(iv) * 8 != cipher.block_size or not sealed or len(sealed) % len(iv):
        raise KeyFormatError("the encrypted PEM key is damaged")
    decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    pad = plain[-1]
    if not 0 < pad <= len(iv) or plain[-pad:] != bytes([pad]) * pad:
        raise WrongPassphrase("wrong passphrase", cause="PEM padding mismatch")
    return plain[:-pad]


# SEC1 curve OIDs (DER, with tag and length) -> curve.
_SEC1_CURVES: dict[bytes, type[ec.EllipticCurve]] = {
    bytes.fromhex("06082a8648ce3d030107"): ec.SECP256R1,
    bytes.fromhex("06052b81040022"): ec.SECP384R1,
    bytes.fromhex("06052b81040023"): ec.SECP521R1,
}


def _short_sec1(encoded: bytes) -> ec.EllipticCurvePrivateKey:
    """PuTTY writes the SEC1 private value without its leading zero bytes (about every
    other P-521 key), which OpenSSL tolerates and ``cryptography`` refuses: rebuild the
    key from the scalar and check it against the stored public point."""
    outer = der.items(encoded)
    if len(outer) != 1 or outer[0][0] != der.SEQUENCE:
        raise KeyFormatError("the SEC1 key is damaged")
    fields = dict(der.items(outer[0][1]))  # version, privateKey, [0] params, [1] public
    scalar, params, public = fields.get(der.OCTET_STRING), fields.get(0xA0), fields.get(0xA1)
    curve = _SEC1_CURVES.get(params or b"")
    if scalar is None or curve is None:
        raise KeyFormatError("the SEC1 key is damaged")
    key = algs.build(
        "EC key", lambda: ec.derive_private_key(int.from_bytes(scalar, "big"), curve())
    )
    point = key.public_key().public_bytes(ser.Encoding.X962, ser.PublicFormat.UncompressedPoint)
    if public is not None and public[-len(point) :] != point:
        raise KeyFormatError("the SEC1 key's private and public halves differ")
    return key


def _der_loader(data: bytes, passphrase: bytes | None) -> PrivateKeyTypes:
    return ser.load_der_private_key(data, passphrase)


# ---- PEM private keys ------------------------------------------------------------------


def load_pem_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    label = _private_label(data)
    if label is None:
        raise KeyFormatError("no PEM private key block found")
    return _load(_pem_loader, data, passphrase, _is_encrypted(data, label))


def peek_pem(data: bytes) -> KeyInfo:
    check_size(data)
    label = _private_label(data)
    if label is None:
        raise KeyFormatError("no PEM private key block found")
    fmt, algorithm = PRIVATE_LABELS[label]
    encrypted = _is_encrypted(data, label)
    public = None if encrypted else load_pem_private(data, None).public
    if public is not None:
        algorithm = public.algorithm
    return KeyInfo(fmt, True, encrypted, algorithm, public)


def _sniff_label(fmt: KeyFormat) -> Callable[[bytes], bool]:
    def sniff(data: bytes) -> bool:
        label = _private_label(data[:8192])
        return label is not None and PRIVATE_LABELS[label][0] is fmt

    return sniff


def _encryption(passphrase: bytes | None) -> ser.KeySerializationEncryption:
    # PKCS#8: PBES2 with AES-256-CBC; traditional PEM: AES-256-CBC with DEK-Info.
    return ser.BestAvailableEncryption(passphrase) if passphrase else ser.NoEncryption()


def write_traditional(key: PrivateKey, options: WriteOptions) -> bytes:
    if key.algorithm not in TRADITIONAL_FOR:
        raise KeyRejected(
            f"{key.algorithm.name.capitalize()} keys have no traditional PEM form "
            "(PKCS#1/SEC1); write --to pkcs8 or --to openssh instead",
        )
    return key.key.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, _encryption(options.passphrase)
    )


def write_pkcs8(key: PrivateKey, options: WriteOptions) -> bytes:
    return key.key.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, _encryption(options.passphrase)
    )


# ---- DER --------------------------------------------------------------------------------


def sniff_der(data: bytes) -> bool:
    """A DER key is one ASN.1 SEQUENCE whose length field covers exactly the file."""
    if len(data) < 2 or data[0] != der.SEQUENCE:
        return False
    if data[1] < 0x80:
        return 2 + data[1] == len(data)
    count = data[1] & 0x7F
    return 0 < count <= 3 and 2 + count + int.from_bytes(data[2 : 2 + count], "big") == len(data)


def _der_encrypted(data: bytes) -> bool:
    # An EncryptedPrivateKeyInfo is SEQUENCE { SEQUENCE { OID ... }, ... }; every plain
    # key starts SEQUENCE { INTEGER ... }: the tag of the first inner element tells.
    if len(data) < 2:
        return False
    header = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    return len(data) > header and data[header] == 0x30


def load_der_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    return _load(_der_loader, data, passphrase, _der_encrypted(data))


def _der_public(data: bytes) -> PublicKey | None:
    try:
        key = ser.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm, InternalError):
        return None
    return PublicKey(_as_ssh_public(key))


def peek_der(data: bytes) -> KeyInfo:
    check_size(data)
    public = _der_public(data)  # a SubjectPublicKeyInfo also starts with SEQUENCE{SEQUENCE
    if public is not None:
        return KeyInfo(KeyFormat.DER, False, False, public.algorithm, public)
    if _der_encrypted(data):
        return KeyInfo(KeyFormat.DER, True, True, None, None)
    public = load_der_private(data, None).public
    return KeyInfo(KeyFormat.DER, True, False, public.algorithm, public)


def load_der_public(data: bytes) -> PublicKey:
    info = peek_der(data)
    if info.public is None:
        raise PassphraseRequired("the key is encrypted: a passphrase is needed")
    return info.public


def write_der(key: PrivateKey, options: WriteOptions) -> bytes:
    return key.key.private_bytes(
        ser.Encoding.DER, ser.PrivateFormat.PKCS8, _encryption(options.passphrase)
    )


# ---- public keys ------------------------------------------------------------------------


def load_pem_public(data: bytes) -> PublicKey:
    check_size(data)
    try:
        key = ser.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm, InternalError) as exc:
        raise KeyFormatError("the PEM public key is damaged", cause=repr(exc)) from exc
    return PublicKey(_as_ssh_public(key))


def peek_pem_public(data: bytes) -> KeyInfo:
    public = load_pem_public(data)
    label = _public_label(data)
    fmt = PUBLIC_LABELS[label] if label else KeyFormat.SPKI
    return KeyInfo(fmt, False, False, public.algorithm, public)


def write_spki(key: PublicKey) -> bytes:
    return key.key.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)


def write_pkcs1_public(key: PublicKey) -> bytes:
    if not isinstance(key.key, rsa.RSAPublicKey):
        raise KeyRejected("only RSA public keys have a PKCS#1 form: use --to spki")
    return key.key.public_bytes(ser.Encoding.PEM, ser.PublicFormat.PKCS1)


def _sniff_public(fmt: KeyFormat) -> Callable[[bytes], bool]:
    def sniff(data: bytes) -> bool:
        label = _public_label(data[:8192])
        return label is not None and PUBLIC_LABELS[label] is fmt

    return sniff


def _traditional(fmt: KeyFormat, description: str) -> FormatCodec:
    return FormatCodec(
        format=fmt,
        description=description,
        is_private=True,
        sniff=_sniff_label(fmt),
        peek=peek_pem,
        load_private=load_pem_private,
        write_private=write_traditional,
    )


PKCS1 = _traditional(KeyFormat.PKCS1, "PEM PKCS#1 RSA private key (BEGIN RSA PRIVATE KEY)")
SEC1 = _traditional(KeyFormat.SEC1, "PEM SEC1 EC private key (BEGIN EC PRIVATE KEY)")
DSA_PEM = _traditional(KeyFormat.DSA_PEM, "PEM DSA private key (BEGIN DSA PRIVATE KEY)")
PKCS8 = FormatCodec(
    format=KeyFormat.PKCS8,
    description="PEM PKCS#8 private key, plain or encrypted (BEGIN [ENCRYPTED] PRIVATE KEY)",
    is_private=True,
    sniff=_sniff_label(KeyFormat.PKCS8),
    peek=peek_pem,
    load_private=load_pem_private,
    write_private=write_pkcs8,
)
DER = FormatCodec(
    format=KeyFormat.DER,
    description="binary DER key (PKCS#8 when written; PKCS#1, SEC1 and public keys read)",
    is_private=True,
    sniff=sniff_der,
    peek=peek_der,
    load_private=load_der_private,
    load_public=load_der_public,
    write_private=write_der,
)
SPKI = FormatCodec(
    format=KeyFormat.SPKI,
    description="PEM public key (BEGIN PUBLIC KEY), as `ssh-keygen -e -m PKCS8` writes",
    is_private=False,
    sniff=_sniff_public(KeyFormat.SPKI),
    peek=peek_pem_public,
    load_public=load_pem_public,
    write_public=write_spki,
)
PKCS1_PUBLIC = FormatCodec(
    format=KeyFormat.PKCS1_PUBLIC,
    description="PEM RSA public key (BEGIN RSA PUBLIC KEY), as `ssh-keygen -e -m PEM` writes",
    is_private=False,
    sniff=_sniff_public(KeyFormat.PKCS1_PUBLIC),
    peek=peek_pem_public,
    load_public=load_pem_public,
    write_public=write_pkcs1_public,
)
