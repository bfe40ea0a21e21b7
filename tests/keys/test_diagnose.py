"""Which key fits which client, and the exact reason and fix when it does not."""

from __future__ import annotations

import pytest

from gitward.errors import KeyRejected
from gitward.keys import Target, diagnose, diagnose_all, inspect_key, parse_target

from .conftest import PASSPHRASE, vector

# (case id, vector, target, usable, substrings of the message)
CASES = [
    (
        "ok/openssh-ed25519-for-openssh",
        "sshkeygen_ed25519.openssh",
        "openssh",
        True,
        ["OpenSSH-format Ed25519 key", "reads it as is"],
    ),
    ("ok/pkcs1-rsa-for-openssh", "openssl_rsa2048.pkcs1", "openssh", True, ["PKCS#1"]),
    ("ok/pkcs8-rsa-for-openssh", "openssl_rsa2048.pkcs8", "openssh", True, ["PKCS#8"]),
    (
        "fail/pkcs8-ed25519-for-openssh",
        "openssl_ed25519.pkcs8",
        "openssh",
        False,
        ["cannot read it", "--to openssh -o"],
    ),
    (
        "fail/ppk-for-openssh",
        "puttygen_ed25519.ppk",
        "openssh",
        False,
        ["PuTTY .ppk file", "gitward keys convert", "--to openssh"],
    ),
    (
        "fail/dsa-for-openssh",
        "sshkeygen_dsa.openssh",
        "openssh",
        False,
        ["DSA", "generate one with `gitward keys generate -t ed25519 -f KEY`"],
    ),
    ("fail/ed448-for-openssh", "puttygen_ed448.ppk", "openssh", False, ["no Ed448"]),
    (
        "ok/openssh-public-line-for-openssh",
        "sshkeygen_ed25519.openssh.pub",
        "openssh",
        True,
        ["authorized_keys"],
    ),
    (
        "fail/rfc4716-for-openssh",
        "sshkeygen_ed25519.openssh.rfc4716",
        "openssh",
        False,
        ["--to public"],
    ),
    ("ok/ppk3-for-putty", "puttygen_rsa2048.ppk", "putty", True, ["0.75"]),
    ("ok/ppk2-for-putty", "puttygen_rsa2048_v2.ppk", "putty", True, ["every PuTTY"]),
    (
        "fail/openssh-for-putty",
        "sshkeygen_ecdsa256.openssh",
        "putty",
        False,
        ["only .ppk", "--to ppk -o"],
    ),
    ("ok/pkcs1-rsa-for-pem-only", "sshkeygen_rsa2048.pkcs1", "pem-only", True, ["read it"]),
    ("ok/encrypted-pkcs1-rsa-for-jsch", "sshkeygen_rsa2048_enc.pkcs1", "jsch", True, []),
    (
        "fail/openssh-ed25519-for-pem-only",
        "sshkeygen_ed25519.openssh",
        "pem-only",
        False,
        [
            "this is an OpenSSH-format Ed25519 key; PEM-only clients need an RSA key in PEM",
            "generate one with `gitward keys generate -t rsa -b 4096 --format pem -f KEY`",
        ],
    ),
    (
        "fail/ppk-rsa-for-pem-only",
        "puttygen_rsa2048.ppk",
        "pem-only",
        False,
        ["this is a PuTTY .ppk file", "--to pem -o"],
    ),
    ("fail/openssh-rsa-for-pem-only", "sshkeygen_rsa2048.openssh", "pem-only", False, ["--to pem"]),
    ("fail/pkcs8-rsa-for-pem-only", "openssl_rsa2048.pkcs8", "pem-only", False, ["--to pem"]),
    (
        "fail/sec1-for-pem-only",
        "openssl_ecdsa256.sec1",
        "pem-only",
        False,
        ["ECDSA", "-t rsa -b 4096 --format pem"],
    ),
    ("ok/ed25519-for-gitward", "puttygen_ed25519.ppk", "gitward", True, ["accepts"]),
    ("ok/ecdsa-for-gitward", "openssl_ecdsa384.sec1", "gitward", True, []),
    ("ok/rsa2048-for-gitward", "openssl_rsa2048.spki.pub", "gitward", True, []),
    (
        "fail/dsa-for-gitward",
        "puttygen_dsa1024.ppk",
        "gitward",
        False,
        ["refuses DSA", "-t ed25519"],
    ),
    ("fail/rsa1024-for-gitward", "openssl_rsa1024.pkcs8", "gitward", False, ["under 2048 bits"]),
    ("fail/ed448-for-gitward", "openssl_ed448.pkcs8", "gitward", False, ["Ed448"]),
    (
        "fail/encrypted-pkcs8-without-passphrase",
        "openssl_rsa2048_enc.pkcs8",
        "gitward",
        False,
        ["passphrase"],
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "usable", "needles"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_diagnose(name: str, target: str, usable: bool, needles: list[str]) -> None:
    verdict = diagnose(inspect_key(vector(name)), target, path=name)
    assert verdict.usable is usable, verdict.message
    for needle in needles:
        assert needle in verdict.message
    if not usable:
        assert verdict.fix or "needs the private key" in verdict.reason
    assert "\n" not in verdict.message


def test_fix_commands_use_the_file_name_and_never_overwrite_it() -> None:
    verdict = diagnose(inspect_key(vector("puttygen_rsa2048.ppk")), "pem-only", path="KEY.ppk")
    assert verdict.fix == "run `gitward keys convert KEY.ppk --to pem -o KEY.pem`"
    pem = inspect_key(vector("openssl_rsa2048.pkcs8"))
    assert "-o my-key-converted.pem" in (diagnose(pem, "jsch", path="my-key.pem").fix or "")
    assert "'my key.ppk'" in (diagnose(pem, "putty", path="my key.pem").fix or "")


def test_encrypted_key_is_judged_once_opened() -> None:
    info = inspect_key(vector("openssl_rsa2048_enc.pkcs8"), PASSPHRASE)
    assert diagnose(info, "gitward").usable
    assert not diagnose(info, "pem-only").usable


def test_targets_and_aliases() -> None:
    assert parse_target("jsch") is Target.PEM_ONLY
    assert len(diagnose_all(inspect_key(vector("puttygen_ed25519.ppk")))) == len(Target)
    with pytest.raises(KeyRejected, match="unknown target"):
        parse_target("winscp")
