"""The secret that encrypts managed CA private keys at rest, and the sealing itself.

Where the secret comes from (ARCHITECTURE, "Where things live"):

- ``ca_secret`` or ``ca_secret_file`` in the settings, if given (required with PostgreSQL:
  several frontends share the database, so they must share the secret, and a secret
  generated on one host would leave the others unable to sign);
- otherwise, on SQLite (the embedded default), ``DATA_DIR/ca-secret``, generated on first
  need with mode 0600 at creation.

Sealing: AES-256-GCM with a fresh 96-bit nonce; the key is HKDF-SHA256 of the secret (the
secret is any high-entropy text, the AEAD needs exactly 32 bytes); the CA's fingerprint is
the associated data, so a sealed key moved onto another CA's row does not open. Stored as
``v1:`` + base64(nonce || ciphertext+tag), the version leaving room for rotation.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gitward.errors import ConfigurationError
from gitward.settings import Settings

SECRET_FILE_NAME: Final = "ca-secret"
MIN_SECRET_BYTES: Final = 16
_VERSION: Final = "v1:"
_INFO: Final = b"gitward managed CA keys v1"
_NEEDED: Final = (
    "the issuing service needs a secret to encrypt managed CA keys: with PostgreSQL set "
    "ca_secret_file (GITWARD_CA_SECRET_FILE) or ca_secret (GITWARD_CA_SECRET), the same on "
    "every frontend"
)


def uses_embedded_store(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


def load_secret(settings: Settings, *, create: bool = True) -> bytes:
    """The CA secret's bytes; ConfigurationError (saying what to set) when there is none."""
    if settings.ca_secret is not None:
        return _checked(settings.ca_secret.get_secret_value().encode(), "ca_secret")
    if settings.ca_secret_file is not None:
        return _read(settings.ca_secret_file)
    if not uses_embedded_store(settings):
        raise ConfigurationError(_NEEDED)
    path = settings.data_dir / SECRET_FILE_NAME
    if not path.exists() and create:
        _generate(path)
    if not path.exists():
        raise ConfigurationError(_NEEDED)
    return _read(path)


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    try:
        # Created 0600 (never readable by others, not even for an instant); O_EXCL so two
        # processes starting together do not overwrite each other's secret.
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the CA secret file {path}: {exc.strerror or exc}"
        ) from exc
    return _checked(data, str(path))


def _checked(data: bytes, where: str) -> bytes:
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the CA secret in {where} is too short: use at least {MIN_SECRET_BYTES} random "
            "bytes, e.g. `openssl rand -base64 32`"
        )
    return data


def _aead(secret: bytes, info: bytes = _INFO) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)
    return AESGCM(key)


def seal(secret: bytes, plaintext: bytes, associated: str, *, info: bytes = _INFO) -> str:
    """``info`` separates uses of the one secret (managed CA keys, the connector's key):
    each gets its own derived AES key, so a value sealed for one never opens as another."""
    nonce = secrets.token_bytes(12)
    sealed = _aead(secret, info).encrypt(nonce, plaintext, associated.encode())
    return _VERSION + base64.b64encode(nonce + sealed).decode("ascii")


def open_sealed(secret: bytes, token: str, associated: str, *, info: bytes = _INFO) -> bytes:
    """Decrypt; ConfigurationError if it does not open (wrong secret, or altered row)."""
    try:
        if not token.startswith(_VERSION):
            raise ValueError("unknown version")
        raw = base64.b64decode(token[len(_VERSION) :], validate=True)
        return _aead(secret, info).decrypt(raw[:12], raw[12:], associated.encode())
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise ConfigurationError(
            "a managed CA key cannot be decrypted: the CA secret differs from the one it was "
            "created with",
            cause=f"{type(exc).__name__} for CA {associated}",
        ) from exc
