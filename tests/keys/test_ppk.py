"""PuTTY .ppk specifics: MAC before key material, wrong passphrase vs damaged file, and
Argon2 parameters refused before any work."""

from __future__ import annotations

import hmac
import time

import pytest

from gitward.errors import KeyFormatError, KeyIntegrityError, WrongPassphrase
from gitward.keys import algorithms, load_private_key, ppk
from gitward.keys.algorithms import SshPrivateKey, SshPublicKey
from gitward.keys.model import PassphraseRequired

from .conftest import PASSPHRASE, vector


def _replace_line(data: bytes, prefix: str, line: str) -> bytes:
    lines = data.decode().splitlines(keepends=True)
    return "".join(line + "\n" if ln.startswith(prefix) else ln for ln in lines).encode()


@pytest.mark.parametrize(
    "name", ["puttygen_ed25519.ppk", "puttygen_rsa2048_v2.ppk"], ids=lambda n: f"fail/{n}"
)
def test_altered_unencrypted_file_fails_its_mac(name: str) -> None:
    data = _replace_line(vector(name), "Comment: ", "Comment: someone else")
    with pytest.raises(KeyIntegrityError, match="MAC does not match"):
        load_private_key(data)


@pytest.mark.parametrize(
    "name",
    ["puttygen_ed25519_enc.ppk", "puttygen_ecdsa256_enc_v2.ppk"],
    ids=lambda n: f"fail/{n}",
)
def test_altered_encrypted_file_with_the_right_passphrase_is_damaged_not_wrong(
    name: str,
) -> None:
    data = _replace_line(vector(name), "Comment: ", "Comment: someone else")
    with pytest.raises(KeyIntegrityError, match="MAC does not match"):
        load_private_key(data, PASSPHRASE)


@pytest.mark.parametrize(
    "name",
    ["puttygen_ed25519_enc.ppk", "puttygen_rsa2048_enc_v2.ppk", "puttygen_ed25519_argon2i.ppk"],
    ids=lambda n: f"fail/{n}",
)
def test_wrong_passphrase_says_so(name: str) -> None:
    with pytest.raises(WrongPassphrase) as wrong:
        load_private_key(vector(name), b"Correct horse")
    assert wrong.value.message == "wrong passphrase"
    assert not isinstance(wrong.value, KeyIntegrityError)


def test_no_key_material_is_built_before_the_mac_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[bytes] = []
    real = algorithms.read_ppk_private

    def spy(public: SshPublicKey, blob: bytes) -> SshPrivateKey:
        built.append(blob)
        return real(public, blob)

    monkeypatch.setattr(algorithms, "read_ppk_private", spy)
    data = _replace_line(vector("puttygen_rsa2048.ppk"), "Comment: ", "Comment: x")
    with pytest.raises(KeyIntegrityError):
        ppk.load_private(data, None)
    assert built == []  # unencrypted: the MAC alone decides, nothing is parsed


def test_mac_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    load_private_key(vector("puttygen_ed25519.ppk"))
    assert calls == [1]


ABSURD = [
    ("Argon2-Memory: ", "Argon2-Memory: 4194304", "out of range"),  # 4 GiB
    ("Argon2-Passes: ", "Argon2-Passes: 1000000", "out of range"),
    ("Argon2-Parallelism: ", "Argon2-Parallelism: 100000", "out of range"),
    ("Argon2-Memory: ", "Argon2-Memory: 99999999999", "out of range"),
    ("Argon2-Passes: ", "Argon2-Passes: 0", "invalid"),
    ("Argon2-Memory: ", "Argon2-Memory: 1048576", "too much work"),  # 1 GiB x passes
    ("Key-Derivation: ", "Key-Derivation: scrypt", "unknown key derivation"),
    ("Argon2-Salt: ", "Argon2-Salt: zz", "salt"),
]


@pytest.mark.parametrize(
    ("prefix", "line", "message"), ABSURD, ids=[f"fail/{line}" for _, line, _ in ABSURD]
)
def test_absurd_argon2_parameters_are_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch, prefix: str, line: str, message: str
) -> None:
    def no_argon2(**_: object) -> bytes:
        raise AssertionError("Argon2 ran")

    monkeypatch.setattr(ppk, "hash_secret_raw", no_argon2)
    data = vector("puttygen_ed25519_enc.ppk")
    if "1048576" in line:  # 1 GiB is allowed alone, not with many passes
        data = _replace_line(data, "Argon2-Passes: ", "Argon2-Passes: 64")
    data = _replace_line(data, prefix, line)
    started = time.monotonic()
    with pytest.raises(KeyFormatError, match=message):
        load_private_key(data, PASSPHRASE)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d.replace(b"PuTTY-User-Key-File-3", b"PuTTY-User-Key-File-1"), "obsolete"),
        (lambda d: d.replace(b"PuTTY-User-Key-File-3", b"PuTTY-User-Key-File-9"), "version 9"),
        (lambda d: d.replace(b"Public-Lines: 2", b"Public-Lines: 99999"), "out of range"),
        (lambda d: d.replace(b"Public-Lines: 2", b"Public-Lines: 900"), "truncated"),
        (lambda d: d.replace(b"Encryption: none", b"Encryption: aes128-ctr"), "encryption"),
        (lambda d: d.replace(b"ssh-ed25519\n", b"ssh-rsa\n", 1), "different types"),
        (lambda d: d.replace(b"Private-MAC: ", b"Private-MAC: 00"), "MAC line"),
        (lambda d: d.rsplit(b"Private-MAC", 1)[0], "truncated"),
        (lambda d: d + b"extra\n", "unexpected lines"),
    ],
    ids=lambda v: "fail/" + (v if isinstance(v, str) else "mutation"),
)
def test_damaged_headers_name_the_cause(mutation: object, message: str) -> None:
    data = mutation(vector("puttygen_ed25519.ppk"))  # type: ignore[operator]
    with pytest.raises(KeyFormatError, match=message):
        load_private_key(data, PASSPHRASE)


def test_encrypted_ppk_without_passphrase_asks_for_one_but_shows_its_public_key() -> None:
    from gitward.keys import inspect_key

    data = vector("puttygen_ed448_enc.ppk")
    with pytest.raises(PassphraseRequired):
        load_private_key(data)
    info = inspect_key(data)
    assert info.encrypted and info.public is not None and info.comment == "ed448@puttygen"
