"""Damaged and random input gets Gitward's own KeyFormatError (or a subclass) from every
parser: never another exception, a hang, or a huge allocation."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitward.errors import KeyFormatError
from gitward.keys import (
    detect_format,
    export_private_key,
    formats,
    inspect_key,
    load_private_key,
    load_public_key,
)
from gitward.keys.algorithms import decode_public_blob

from .conftest import FAST_ARGON2, FAST_BCRYPT_ROUNDS, PASSPHRASE, vector

# One real file per parser (small ones: the fuzzer spends its time on structure).
SEEDS = [
    "sshkeygen_ed25519.openssh",
    "sshkeygen_ecdsa256.openssh",
    "puttygen_ed25519.ppk",
    "puttygen_ecdsa256_v2.ppk",
    "puttygen_ed25519_enc.ppk",
    "openssl_ecdsa256.sec1",
    "openssl_ed25519.pkcs8",
    "openssl_ed25519_enc.pkcs8",
    "puttygen_dsa1024.sshcom",
    "sshkeygen_ed25519.openssh.rfc4716",
    "openssl_ed25519.spki.pub",
    "sshkeygen_ed25519.openssh.pub",
    "openssl_rsa2048.pkcs8.der",
]
SEED_DATA = {name: vector(name) for name in SEEDS}

FUZZ = settings(
    max_examples=150,
    deadline=3000,  # ms: a hang or a runaway KDF fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


def _codec_peek(data: bytes) -> object:
    return formats.detect(data).peek(data)


def _codec_load(data: bytes) -> object:
    codec = formats.detect(data)
    if codec.load_private is not None:
        return codec.load_private(data, None)
    assert codec.load_public is not None
    return codec.load_public(data)


# The format modules are called directly too: the API's safety net (which turns any stray
# exception into KeyFormatError) must not be what makes these tests pass.
READERS: list[tuple[str, Callable[[bytes], object]]] = [
    ("codec.peek", _codec_peek),
    ("codec.load", _codec_load),
    ("detect_format", detect_format),
    ("inspect_key", inspect_key),
    ("load_private_key", lambda d: load_private_key(d, None)),
    ("load_public_key", lambda d: load_public_key(d, None)),
]


def _only_key_errors(data: bytes, passphrase: bytes | None = None) -> None:
    for _name, reader in READERS:
        with contextlib.suppress(KeyFormatError):
            reader(data)
    if passphrase is not None:
        try:
            codec = formats.detect(data)
            if codec.load_private is not None:
                codec.load_private(data, passphrase)
        except KeyFormatError:
            pass


@st.composite
def damaged(draw: st.DrawFn, seeds: dict[str, bytes] = SEED_DATA) -> bytes:
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            data[pos : pos + 4] = draw(
                st.sampled_from(
                    [b"\xff\xff\xff\xff", b"\x7f\xff\xff\xf0", b"9999", b"\x00\x00\x00\x00"]
                )
            )
    return bytes(data)


@FUZZ
@given(damaged())
def test_damaged_fixtures_raise_only_key_format_errors(data: bytes) -> None:
    _only_key_errors(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_key_format_errors(data: bytes) -> None:
    _only_key_errors(data)


@FUZZ
@given(st.text(max_size=600))
def test_random_text_raise_only_key_format_errors(text: str) -> None:
    _only_key_errors(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(
    st.sampled_from(
        [
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            "PuTTY-User-Key-File-3: ssh-rsa\n",
            "---- BEGIN SSH2 PUBLIC KEY ----\n",
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "ssh-ed25519 ",
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n",
        ]
    ),
    st.binary(max_size=1024),
)
def test_known_headers_with_random_bodies(header: str, body: bytes) -> None:
    _only_key_errors(header.encode() + body)


@FUZZ
@given(st.binary(max_size=600))
def test_random_public_blobs(blob: bytes) -> None:
    with contextlib.suppress(KeyFormatError):
        decode_public_blob(blob)


@pytest.fixture(scope="module")
def cheap_encrypted() -> dict[str, bytes]:
    """Encrypted files whose KDF is cheap, so the fuzzer can try passphrases on them."""
    key = load_private_key(vector("sshkeygen_ed25519.openssh"))
    return {
        "ppk3": export_private_key(key, "ppk", PASSPHRASE, argon2=FAST_ARGON2),
        "ppk2": export_private_key(key, "ppk2", PASSPHRASE),
        "openssh": export_private_key(key, "openssh", PASSPHRASE, bcrypt_rounds=FAST_BCRYPT_ROUNDS),
        "gcm": vector("sshkeygen_ed25519_gcm.openssh"),
        "pkcs8": export_private_key(key, "pkcs8", PASSPHRASE),
    }


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_damaged_encrypted_files_with_the_passphrase(
    cheap_encrypted: dict[str, bytes], data: st.DataObject
) -> None:
    blob = data.draw(damaged(cheap_encrypted))
    _only_key_errors(blob, PASSPHRASE)


def test_absurd_length_fields_allocate_nothing_big() -> None:
    """A length field of 4 GiB must be refused from the header, not by trying."""
    import base64

    from gitward.keys.wire import WireWriter

    body = (
        WireWriter()
        .raw(b"openssh-key-v1\x00")
        .string("none")
        .string("none")
        .string(b"")
        .uint32(1)
        .raw(b"\xff\xff\xff\xf0")
        .getvalue()
    )
    data = (
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + base64.b64encode(body)
        + (b"\n-----END OPENSSH PRIVATE KEY-----\n")
    )
    tracemalloc.start()
    try:
        with pytest.raises(KeyFormatError, match="truncated"):
            load_private_key(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024


def test_bcrypt_rounds_are_bounded_before_work() -> None:
    import base64

    from gitward.keys.armor import pem_body

    body = pem_body(vector("sshkeygen_ed25519_enc.openssh"), "OPENSSH PRIVATE KEY")
    # magic(15) + "aes256-ctr"(4+10) + "bcrypt"(4+6) + options length(4) + salt(4+16)
    rounds_at = 15 + 14 + 10 + 4 + 20
    assert body[rounds_at : rounds_at + 4] == (16).to_bytes(4, "big")
    patched = body[:rounds_at] + (1_000_000).to_bytes(4, "big") + body[rounds_at + 4 :]
    data = (
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + base64.b64encode(patched)
        + (b"\n-----END OPENSSH PRIVATE KEY-----\n")
    )
    with pytest.raises(KeyFormatError, match="bcrypt rounds"):
        load_private_key(data, PASSPHRASE)


def test_huge_files_are_refused_unread() -> None:
    with pytest.raises(KeyFormatError, match="too large"):
        load_private_key(b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b"A" * (2 << 20))


PATHOLOGICAL = [
    b"-----BEGIN OPENSSH PRIVATE KEY-----\n" * 25_000,
    b"-----BEGIN RSA PRIVATE KEY-----\n" * 25_000,
    b"ssh-ed25519 " + b"A" * 900_000 + b"!",
    b"ssh-rsa AAAA!\n" * 60_000,
    b"PuTTY-User-Key-File-3: ssh-rsa\n" + b"Encryption: none\n" * 50_000,
    b"---- BEGIN SSH2 PUBLIC KEY ----\n" + b"x: \\\n" * 150_000,
    b"\x30\x83\xff\xff\xff" + bytes(900_000),
]


@pytest.mark.parametrize(
    "data", PATHOLOGICAL, ids=[f"fail/pathological-{i}" for i in range(len(PATHOLOGICAL))]
)
def test_pathological_inputs_fail_fast(data: bytes) -> None:
    import time

    started = time.monotonic()
    _only_key_errors(data)
    assert time.monotonic() - started < 5
