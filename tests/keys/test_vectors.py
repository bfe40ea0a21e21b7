"""Every key the real tools wrote (tests/vectors/keys, made by make_key_vectors.sh) is
read, gives the fingerprint the tools print, and converts to what puttygen writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitward.errors import KeyFormatError, KeyIntegrityError, WrongPassphrase
from gitward.keys import (
    KeyFormat,
    PassphraseRequired,
    detect_format,
    export_private_key,
    fingerprint_md5,
    fingerprint_sha256,
    inspect_key,
    load_private_key,
    load_public_key,
)

from .conftest import PASSPHRASE, VECTORS, vector, vectors

PRIVATE_SUFFIXES = {
    ".openssh": KeyFormat.OPENSSH,
    ".ppk": None,  # ppk2 or ppk3, from the name
    ".pkcs1": KeyFormat.PKCS1,
    ".sec1": KeyFormat.SEC1,
    ".pkcs8": KeyFormat.PKCS8,
    ".pem": None,  # puttygen -O private-openssh: PKCS#1, SEC1 or DSA by algorithm
    ".der": KeyFormat.DER,
    ".sshcom": KeyFormat.SSHCOM,
}
UNREADABLE = {"openssl_x25519.pkcs8"}


def _private_vectors() -> list[Path]:
    return [
        p
        for p in sorted(VECTORS.iterdir())
        if p.suffix in PRIVATE_SUFFIXES and p.name not in UNREADABLE
    ]


def _expected_format(path: Path) -> KeyFormat:
    if path.suffix == ".ppk":
        return KeyFormat.PPK2 if "_v2" in path.name else KeyFormat.PPK3
    if path.suffix == ".pem":
        return {"rsa": KeyFormat.PKCS1, "ecd": KeyFormat.SEC1, "dsa": KeyFormat.DSA_PEM}[
            path.name.split("_")[1][:3]
        ]
    fmt = PRIVATE_SUFFIXES[path.suffix]
    assert fmt is not None
    return fmt


def _is_encrypted(path: Path) -> bool:
    return bool(re.search(r"_(enc|gcm|chacha|cbc|3des|argon2[id])", path.name))


@pytest.mark.parametrize("path", _private_vectors(), ids=lambda p: f"ok/{p.name}")
def test_every_private_vector_is_read(path: Path) -> None:
    data = path.read_bytes()
    assert detect_format(data) == _expected_format(path)
    info = inspect_key(data)
    assert info.is_private
    assert info.encrypted == _is_encrypted(path)
    key = load_private_key(data, PASSPHRASE)
    if info.public is not None:
        assert key.public.same_key(info.public)


@pytest.mark.parametrize(
    "path",
    [p for p in _private_vectors() if _is_encrypted(p)],
    ids=lambda p: f"fail/{p.name}",
)
def test_encrypted_vectors_want_the_right_passphrase(path: Path) -> None:
    data = path.read_bytes()
    with pytest.raises(PassphraseRequired):
        load_private_key(data)
    with pytest.raises(WrongPassphrase) as wrong:
        load_private_key(data, b"not the passphrase")
    assert "wrong passphrase" in wrong.value.message
    assert not isinstance(wrong.value, KeyIntegrityError)


def _ssh_keygen_fingerprints(path: Path) -> tuple[str, str]:
    """(SHA256:..., MD5:...) from what `ssh-keygen -l [-E md5]` printed for a .pub."""
    stem = str(path)[: -len(".pub")]
    sha = Path(stem + ".sha256.txt").read_text().split()[1]
    md5 = Path(stem + ".md5.txt").read_text().split()[1]
    return sha, md5


@pytest.mark.parametrize("pub", vectors("sshkeygen_*.pub"), ids=lambda p: f"ok/{p.name}")
def test_fingerprints_match_ssh_keygen(pub: Path) -> None:
    sha, md5 = _ssh_keygen_fingerprints(pub)
    public = load_public_key(pub.read_bytes())
    assert fingerprint_sha256(public) == sha
    assert fingerprint_md5(public) == md5
    # The private key beside it has the same fingerprint, read without its passphrase
    # where the format shows the public key in clear (OpenSSH), else with it.
    private = Path(str(pub)[: -len(".pub")])
    assert fingerprint_sha256(load_public_key(private.read_bytes(), PASSPHRASE)) == sha
    assert public.comment == pub.read_text().split(maxsplit=2)[2].strip()


@pytest.mark.parametrize(
    "name",
    ["rsa2048", "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "dsa1024", "ed448"],
    ids=lambda n: f"ok/{n}",
)
def test_puttygen_fingerprints_and_public_forms_agree(name: str) -> None:
    expected = vector(f"puttygen_{name}.sha256.txt").decode().split()[2]
    for suffix in (".ppk", "_v2.ppk", "_enc.ppk", "_enc_v2.ppk", ".openssh.pub", ".rfc4716.pub"):
        public = load_public_key(vector(f"puttygen_{name}{suffix}"), PASSPHRASE)
        assert fingerprint_sha256(public) == expected, suffix
        assert public.comment == re.sub(r"^(rsa|ecdsa|dsa)\d+$", r"\1", name) + "@puttygen"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sshkeygen_rsa2048.openssh.rfc4716", KeyFormat.RFC4716),
        ("sshkeygen_ed25519.openssh.rfc4716", KeyFormat.RFC4716),
        ("sshkeygen_rsa2048.openssh.spki", KeyFormat.SPKI),
        ("sshkeygen_ecdsa384.openssh.spki", KeyFormat.SPKI),
        ("sshkeygen_rsa2048.openssh.pkcs1pub", KeyFormat.PKCS1_PUBLIC),
    ],
    ids=lambda v: f"ok/{v}" if isinstance(v, str) else str(v),
)
def test_ssh_keygen_public_exports_are_read(name: str, fmt: KeyFormat) -> None:
    data = vector(name)
    assert detect_format(data) == fmt
    source = name.split(".")[0] + ".openssh.pub"
    assert load_public_key(data).same_key(load_public_key(vector(source)))


@pytest.mark.parametrize(
    "name",
    ["openssl_rsa2048.pkcs1", "openssl_ecdsa256.sec1"],
    ids=lambda n: f"ok/{n}",
)
def test_openssl_keys_match_ssh_keygen_y(name: str) -> None:
    ours = load_private_key(vector(name)).public
    theirs = load_public_key(vector(f"{name}.openssh.pub"))
    assert ours.same_key(theirs)


def test_openssl_public_forms_agree() -> None:
    private = load_private_key(vector("openssl_rsa2048.pkcs8")).public
    for name in (
        "openssl_rsa2048.spki.pub",
        "openssl_rsa2048.pkcs1.pub",
        "openssl_rsa2048.pkcs8.der",
        "openssl_rsa2048.pkcs1",
    ):
        assert load_public_key(vector(name)).same_key(private), name
    ed = load_private_key(vector("openssl_ed25519.pkcs8")).public
    assert load_public_key(vector("openssl_ed25519.spki.pub")).same_key(ed)


KEYGEN_NAMES = ["rsa2048", "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "dsa"]


@pytest.mark.parametrize("name", KEYGEN_NAMES, ids=lambda n: f"ok/{n}")
@pytest.mark.parametrize(
    ("fmt", "suffix"), [("ppk", ".converted.ppk"), ("ppk2", ".converted_v2.ppk")]
)
def test_unencrypted_ppk_equals_puttygen_byte_for_byte(name: str, fmt: str, suffix: str) -> None:
    key = load_private_key(vector(f"sshkeygen_{name}.openssh")).with_comment(f"converted-{name}")
    assert export_private_key(key, fmt) == vector(f"sshkeygen_{name}{suffix}")


@pytest.mark.parametrize(
    "path",
    [p for p in vectors("puttygen_*.ppk") if not _is_encrypted(p)],
    ids=lambda p: f"ok/{p.name}",
)
def test_unencrypted_puttygen_ppk_is_rewritten_identically(path: Path) -> None:
    # (Encrypted files carry a random salt; their keys are compared in round trips.)
    data = path.read_bytes()
    info = inspect_key(data)
    key = load_private_key(data)
    assert export_private_key(key, str(info.format)) == data


def test_comments_are_read_from_every_format_that_has_them() -> None:
    assert load_private_key(vector("sshkeygen_ed25519.openssh")).comment == "ed25519@ssh-keygen"
    encrypted = load_private_key(vector("sshkeygen_rsa2048_enc.openssh"), PASSPHRASE)
    assert encrypted.comment == "rsa-enc@ssh-keygen"
    assert load_private_key(vector("puttygen_ed25519_enc.ppk"), PASSPHRASE).comment == (
        "ed25519@puttygen"
    )
    assert load_private_key(vector("puttygen_rsa2048.sshcom")).comment == "rsa@puttygen"
    rfc = load_public_key(vector("sshkeygen_rsa2048.openssh.rfc4716"))
    assert rfc.comment.startswith("2048-bit RSA, converted by ")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("openssl_x25519.pkcs8", "X25519"),
    ],
    ids=lambda v: f"fail/{v}",
)
def test_unusable_vectors_are_refused_with_a_reason(name: str, message: str) -> None:
    with pytest.raises(KeyFormatError) as refused:
        load_private_key(vector(name), PASSPHRASE)
    assert message in refused.value.message
