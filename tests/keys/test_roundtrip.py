"""Every algorithm x every format, plain and encrypted, writes and reads back the same key;
the formats that cannot hold a key say so with a KeyRejected that names the way out."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gitward.errors import KeyRejected
from gitward.keys import (
    Argon2Params,
    KeyFormat,
    PrivateKey,
    detect_format,
    export_private_key,
    export_public_key,
    fingerprint_md5,
    fingerprint_sha256,
    generate_key,
    inspect_key,
    load_private_key,
    load_public_key,
)

from .conftest import FAST_ARGON2, FAST_BCRYPT_ROUNDS, PASSPHRASE, vector

# Name users write -> what detect_format() then reports, per algorithm family.
PRIVATE_FORMATS = ["openssh", "pem", "pkcs8", "ppk", "ppk2", "der"]
COMMENT_FORMATS = {"openssh", "ppk", "ppk2"}  # the others carry no comment
ALGORITHMS = ["rsa2048", "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "dsa1024", "ed448"]
# (algorithm, format) pairs that cannot exist: Ed25519/Ed448 have no traditional PEM,
# OpenSSH has no Ed448.
IMPOSSIBLE = {("ed25519", "pem"), ("ed448", "pem"), ("ed448", "openssh")}


@pytest.fixture(scope="module")
def keys(generated_keys: dict[str, PrivateKey]) -> dict[str, PrivateKey]:
    # DSA and Ed448 cannot be generated (on purpose), so they come from puttygen.
    extra = {
        "dsa1024": load_private_key(vector("puttygen_dsa1024.ppk")),
        "ed448": load_private_key(vector("puttygen_ed448.ppk")),
    }
    return {**generated_keys, **extra}


def _secret(key: PrivateKey) -> object:
    if isinstance(key.key, rsa.RSAPrivateKey):  # PuTTY reorders p and q
        numbers = key.key.private_numbers()
        return numbers.d, numbers.public_numbers, sorted((numbers.p, numbers.q))
    return key.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def _write(key: PrivateKey, fmt: str, passphrase: bytes | None) -> bytes:
    return export_private_key(
        key, fmt, passphrase, argon2=FAST_ARGON2, bcrypt_rounds=FAST_BCRYPT_ROUNDS
    )


CASES = [
    (algo, fmt, enc)
    for algo in ALGORITHMS
    for fmt in PRIVATE_FORMATS
    for enc in (False, True)
    if (algo, fmt) not in IMPOSSIBLE
]


@pytest.mark.parametrize(
    ("algo", "fmt", "encrypted"),
    CASES,
    ids=[f"ok/{a}-{f}-{'enc' if e else 'plain'}" for a, f, e in CASES],
)
def test_private_round_trip(
    keys: dict[str, PrivateKey], algo: str, fmt: str, encrypted: bool
) -> None:
    key = keys[algo]
    data = _write(key, fmt, PASSPHRASE if encrypted else None)
    info = inspect_key(data)
    assert info.is_private and info.encrypted == encrypted
    back = load_private_key(data, PASSPHRASE if encrypted else None)
    assert back.public.same_key(key.public)
    assert _secret(back) == _secret(key)
    if fmt in COMMENT_FORMATS:
        assert back.comment == key.comment
    # Writing what we read gives an equivalent file again (idempotent conversion).
    again = load_private_key(_write(back, fmt, None))
    assert again.public.same_key(key.public)


@pytest.mark.parametrize(
    ("algo", "fmt"), sorted(IMPOSSIBLE), ids=[f"fail/{a}-{f}" for a, f in sorted(IMPOSSIBLE)]
)
def test_impossible_formats_are_refused_with_the_alternative(
    keys: dict[str, PrivateKey], algo: str, fmt: str
) -> None:
    with pytest.raises(KeyRejected) as refused:
        export_private_key(keys[algo], fmt)
    assert "ppk" in refused.value.message or "pkcs8" in refused.value.message


def test_pem_is_the_traditional_form_per_algorithm(keys: dict[str, PrivateKey]) -> None:
    assert detect_format(export_private_key(keys["rsa2048"], "pem")) is KeyFormat.PKCS1
    assert detect_format(export_private_key(keys["ecdsa384"], "pem")) is KeyFormat.SEC1
    assert detect_format(export_private_key(keys["dsa1024"], "pem")) is KeyFormat.DSA_PEM
    pem = export_private_key(keys["rsa2048"], "pem")
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    encrypted = export_private_key(keys["rsa2048"], "pem", PASSPHRASE)
    assert b"Proc-Type: 4,ENCRYPTED" in encrypted


PUBLIC_CASES = [
    (algo, fmt)
    for algo in ALGORITHMS
    for fmt in ("public", "rfc4716", "spki", "pkcs1-public")
    if fmt != "pkcs1-public" or algo == "rsa2048"
]


@pytest.mark.parametrize(
    ("algo", "fmt"), PUBLIC_CASES, ids=[f"ok/{a}-{f}" for a, f in PUBLIC_CASES]
)
def test_public_round_trip(keys: dict[str, PrivateKey], algo: str, fmt: str) -> None:
    key = keys[algo]
    data = export_public_key(key, fmt)
    back = load_public_key(data)
    assert back.same_key(key.public)
    if fmt in ("public", "rfc4716"):
        assert back.comment == key.comment
    # export_private_key with a public target writes the public key too.
    assert export_private_key(key, fmt) == data


def test_pkcs1_public_only_for_rsa(keys: dict[str, PrivateKey]) -> None:
    with pytest.raises(KeyRejected, match="spki"):
        export_public_key(keys["ed25519"], "pkcs1-public")


def test_openssh_public_line_shape(keys: dict[str, PrivateKey]) -> None:
    line = export_public_key(keys["ed25519"]).decode()
    kind, b64, comment = line.rstrip("\n").split(" ", 2)
    assert kind == "ssh-ed25519" and comment == "ed25519 test key"
    assert base64.b64decode(b64) == keys["ed25519"].public.blob


def test_rfc4716_long_comment_is_continued_within_72_bytes(keys: dict[str, PrivateKey]) -> None:
    key = keys["ed25519"].with_comment("x" * 150)
    data = export_public_key(key, "rfc4716")
    assert max(len(line) for line in data.splitlines()) <= 72
    assert load_public_key(data).comment == "x" * 150


def test_fingerprint_forms(keys: dict[str, PrivateKey]) -> None:
    key = keys["ed25519"]
    digest = hashlib.sha256(key.public.blob).digest()
    assert fingerprint_sha256(key) == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    md5 = fingerprint_md5(key.public)
    assert md5.startswith("MD5:") and len(md5.split(":")) == 17


def test_ppk3_writes_the_argon2_parameters_it_was_given(keys: dict[str, PrivateKey]) -> None:
    params = Argon2Params(
        flavour="Argon2i", memory_kib=512, passes=2, parallelism=2, salt=bytes(range(16))
    )
    data = export_private_key(keys["ed25519"], "ppk", PASSPHRASE, argon2=params).decode()
    assert "Key-Derivation: Argon2i\n" in data and "Argon2-Memory: 512\n" in data
    assert "Argon2-Passes: 2\n" in data and "Argon2-Parallelism: 2\n" in data
    assert f"Argon2-Salt: {bytes(range(16)).hex()}\n" in data
    # With a fixed salt the encrypted output is deterministic too.
    assert export_private_key(keys["ed25519"], "ppk", PASSPHRASE, argon2=params).decode() == data


@pytest.mark.parametrize(
    ("algorithm", "bits", "expected_bits"),
    [
        ("rsa", 2048, 2048),
        ("ecdsa", None, 256),
        ("ecdsa", 384, 384),
        ("ecdsa", 521, 521),
        ("ed25519", None, 256),
    ],
    ids=lambda v: f"ok/{v}",
)
def test_generate(algorithm: str, bits: int | None, expected_bits: int) -> None:
    key = generate_key(algorithm, bits, comment="c")
    assert key.bits == expected_bits and key.comment == "c"


@pytest.mark.parametrize(
    ("algorithm", "bits", "message"),
    [
        ("rsa", 1024, "2048 to 8192"),
        ("rsa", 8200, "2048 to 8192"),
        ("ecdsa", 255, "256, 384"),
        ("ed25519", 512, "256"),
        ("dsa", None, "rsa, ed25519 or ecdsa"),
        ("rsa1", None, "rsa, ed25519 or ecdsa"),
    ],
    ids=lambda v: f"fail/{v}",
)
def test_generate_refuses(algorithm: str, bits: int | None, message: str) -> None:
    with pytest.raises(KeyRejected, match=message):
        generate_key(algorithm, bits)


def test_rsa_default_is_4096_bits() -> None:
    assert generate_key("rsa").bits == 4096
