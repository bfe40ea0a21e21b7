"""With the real tools installed: ssh-keygen reads every private key Gitward writes,
puttygen reads every .ppk, openssl reads the PEM forms, and puttygen's conversion of a
Gitward key equals Gitward's own byte for byte. Skipped (visibly) without the tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitward.keys import (
    PrivateKey,
    export_private_key,
    export_public_key,
    fingerprint_sha256,
    load_private_key,
    load_public_key,
)

from .conftest import (
    FAST_ARGON2,
    FAST_BCRYPT_ROUNDS,
    PASSPHRASE,
    needs_openssl,
    needs_puttygen,
    needs_ssh_keygen,
    vector,
)

OPENSSH_ALGORITHMS = ["rsa2048", "ed25519", "ecdsa256", "ecdsa384", "ecdsa521"]


def _run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr.strip()}"
    return done.stdout


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o600)  # ssh-keygen refuses private keys readable by others
    return path


def _openssh_line(key: PrivateKey) -> str:
    return " ".join(export_public_key(key.public).decode().split()[:2])


SSH_KEYGEN_CASES = [
    (algo, fmt, enc)
    for algo in OPENSSH_ALGORITHMS
    for fmt in ("openssh", "pem", "pkcs8")
    for enc in (False, True)
    # OpenSSH 9.2 cannot read an Ed25519 key in PEM or PKCS#8 (there is no PEM form).
    if not (algo == "ed25519" and fmt != "openssh")
]


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("algo", "fmt", "encrypted"),
    SSH_KEYGEN_CASES,
    ids=[f"ok/{a}-{f}-{'enc' if e else 'plain'}" for a, f, e in SSH_KEYGEN_CASES],
)
def test_ssh_keygen_reads_what_we_write(
    tmp_path: Path, generated_keys: dict[str, PrivateKey], algo: str, fmt: str, encrypted: bool
) -> None:
    key = generated_keys[algo]
    passphrase = PASSPHRASE if encrypted else None
    data = export_private_key(key, fmt, passphrase, bcrypt_rounds=FAST_BCRYPT_ROUNDS)
    path = _write(tmp_path, "key", data)
    args: list[str | Path] = ["ssh-keygen", "-y", "-f", path]
    args += ["-P", PASSPHRASE.decode()] if encrypted else ["-P", ""]
    assert " ".join(_run(*args).split()[:2]) == _openssh_line(key)


@needs_ssh_keygen
def test_ssh_keygen_fingerprints_our_public_keys(
    tmp_path: Path, generated_keys: dict[str, PrivateKey]
) -> None:
    for algo, key in generated_keys.items():
        path = _write(tmp_path, f"{algo}.pub", export_public_key(key.public))
        assert _run("ssh-keygen", "-l", "-f", path).split()[1] == fingerprint_sha256(key), algo
        rfc = _write(tmp_path, f"{algo}.rfc", export_public_key(key.public, "rfc4716"))
        imported = _run("ssh-keygen", "-i", "-m", "RFC4716", "-f", rfc)
        assert " ".join(imported.split()[:2]) == _openssh_line(key), algo


PUTTYGEN_CASES = [
    (algo, fmt, enc)
    for algo in [*OPENSSH_ALGORITHMS, "dsa1024", "ed448"]
    for fmt in ("ppk", "ppk2")
    for enc in (False, True)
]


@pytest.fixture(scope="module")
def all_keys(generated_keys: dict[str, PrivateKey]) -> dict[str, PrivateKey]:
    return {
        **generated_keys,
        "dsa1024": load_private_key(vector("puttygen_dsa1024.ppk")),
        "ed448": load_private_key(vector("puttygen_ed448.ppk")),
    }


@needs_puttygen
@pytest.mark.parametrize(
    ("algo", "fmt", "encrypted"),
    PUTTYGEN_CASES,
    ids=[f"ok/{a}-{f}-{'enc' if e else 'plain'}" for a, f, e in PUTTYGEN_CASES],
)
def test_puttygen_reads_every_ppk_we_write(
    tmp_path: Path, all_keys: dict[str, PrivateKey], algo: str, fmt: str, encrypted: bool
) -> None:
    key = all_keys[algo]
    passphrase = PASSPHRASE if encrypted else None
    path = _write(tmp_path, "key.ppk", export_private_key(key, fmt, passphrase, argon2=FAST_ARGON2))
    passfile = _write(tmp_path, "pass", PASSPHRASE)
    old: list[str | Path] = ["--old-passphrase", passfile] if encrypted else []
    public = _run("puttygen", path, *old, "-O", "public-openssh")
    assert load_public_key(public.encode()).same_key(key.public)
    assert public.split(maxsplit=2)[2].strip() == key.comment


@needs_puttygen
@pytest.mark.parametrize("algo", [*OPENSSH_ALGORITHMS, "dsa1024"], ids=lambda a: f"ok/{a}")
@pytest.mark.parametrize("version", ["3", "2"])
def test_puttygen_conversion_of_our_key_equals_ours(
    tmp_path: Path, all_keys: dict[str, PrivateKey], algo: str, version: str
) -> None:
    key = all_keys[algo].with_comment(f"live {algo}")
    source = _write(tmp_path, "key", export_private_key(key, "openssh"))
    out = tmp_path / "theirs.ppk"
    _run(
        "puttygen",
        source,
        "-C",
        key.comment,
        "-O",
        "private",
        "--ppk-param",
        f"version={version}",
        "-o",
        out,
    )
    ours = export_private_key(key, "ppk" if version == "3" else "ppk2")
    assert out.read_bytes() == ours


@needs_puttygen
def test_puttygen_reads_our_openssh_and_pem_keys(
    tmp_path: Path, generated_keys: dict[str, PrivateKey]
) -> None:
    for algo, key in generated_keys.items():
        for fmt in ("openssh", "pem") if algo != "ed25519" else ("openssh",):
            path = _write(tmp_path, f"{algo}.{fmt}", export_private_key(key, fmt))
            fingerprint = _run("puttygen", path, "-l", "-E", "sha256").split()[2]
            assert fingerprint == fingerprint_sha256(key), (algo, fmt)


@needs_openssl
@pytest.mark.parametrize("fmt", ["pem", "pkcs8"], ids=lambda f: f"ok/{f}")
def test_openssl_reads_our_pem_keys(
    tmp_path: Path, generated_keys: dict[str, PrivateKey], fmt: str
) -> None:
    for algo, key in generated_keys.items():
        if algo == "ed25519" and fmt == "pem":
            continue
        for passphrase in (None, PASSPHRASE):
            path = _write(tmp_path, "key", export_private_key(key, fmt, passphrase))
            spki = _run(
                "openssl", "pkey", "-in", path, "-pubout", "-passin", f"pass:{PASSPHRASE.decode()}"
            )
            assert spki.encode() == export_public_key(key, "spki"), (algo, passphrase)
