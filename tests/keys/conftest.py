"""Shared fixtures for the key tests: the committed vectors and keys generated once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitward.keys import Argon2Params, PrivateKey, generate_key
from gitward.keys.algorithms import Algorithm

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "keys"
PASSPHRASE = b"correct horse"  # every encrypted vector uses it (make_key_vectors.sh)
# Small Argon2 settings for the .ppk files the tests write: fast, still real Argon2.
FAST_ARGON2 = Argon2Params(memory_kib=256, passes=1, parallelism=1)
FAST_BCRYPT_ROUNDS = 1

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)
needs_puttygen = pytest.mark.skipif(
    shutil.which("puttygen") is None, reason="puttygen (putty-tools) is not installed"
)
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed"
)


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def vectors(pattern: str) -> list[Path]:
    found = sorted(VECTORS.glob(pattern))
    assert found, f"no vectors match {pattern}: run tests/vectors/make_key_vectors.sh"
    return found


# One key per algorithm, generated once per test session (RSA at 2048 bits: fast).
KEY_SPECS = {
    "rsa2048": (Algorithm.RSA, 2048),
    "ed25519": (Algorithm.ED25519, None),
    "ecdsa256": (Algorithm.ECDSA, 256),
    "ecdsa384": (Algorithm.ECDSA, 384),
    "ecdsa521": (Algorithm.ECDSA, 521),
}


@pytest.fixture(scope="session")
def generated_keys() -> dict[str, PrivateKey]:
    return {
        name: generate_key(algorithm, bits, comment=f"{name} test key")
        for name, (algorithm, bits) in KEY_SPECS.items()
    }
