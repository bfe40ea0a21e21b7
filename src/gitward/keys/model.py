"""The values the key library passes around: formats, algorithms, keys and what we know
about a key file before (or without) opening it.

Everything here is plain data; the parsing and writing lives in one module per format.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gitward.errors import WrongPassphrase
from gitward.keys.algorithms import (
    Algorithm,
    SshPrivateKey,
    SshPublicKey,
    algorithm_of,
    curve_name,
    encode_public_blob,
    key_bits,
    ssh_key_type,
)

__all__ = [
    "Algorithm",
    "KeyFormat",
    "KeyInfo",
    "PassphraseRequired",
    "PrivateKey",
    "PublicKey",
    "SshPrivateKey",
    "SshPublicKey",
]


class PassphraseRequired(WrongPassphrase):
    """The key is encrypted and no passphrase was given (the CLI then prompts)."""


class KeyFormat(StrEnum):
    """Every on-disk form we detect. The value is the name users see (CLI, JSON)."""

    OPENSSH = "openssh"  # -----BEGIN OPENSSH PRIVATE KEY----- (ssh-keygen's default)
    PKCS1 = "pkcs1"  # -----BEGIN RSA PRIVATE KEY-----
    SEC1 = "sec1"  # -----BEGIN EC PRIVATE KEY-----
    DSA_PEM = "dsa-pem"  # -----BEGIN DSA PRIVATE KEY-----
    PKCS8 = "pkcs8"  # -----BEGIN [ENCRYPTED] PRIVATE KEY-----
    DER = "der"  # binary PKCS#8 (also PKCS#1/SEC1 when reading)
    PPK2 = "ppk2"  # PuTTY-User-Key-File-2
    PPK3 = "ppk3"  # PuTTY-User-Key-File-3
    SSHCOM = "sshcom"  # ---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ---- (read only)
    OPENSSH_PUBLIC = "openssh-public"  # ssh-ed25519 AAAA... comment
    RFC4716 = "rfc4716"  # ---- BEGIN SSH2 PUBLIC KEY ----
    SPKI = "spki"  # -----BEGIN PUBLIC KEY-----
    PKCS1_PUBLIC = "pkcs1-public"  # -----BEGIN RSA PUBLIC KEY-----


@dataclass(frozen=True, eq=False)
class PublicKey:
    """A public key and the comment that travelled with it."""

    key: SshPublicKey
    comment: str = ""

    @property
    def algorithm(self) -> Algorithm:
        return algorithm_of(self.key)

    @property
    def bits(self) -> int:
        return key_bits(self.key)

    @property
    def curve(self) -> str | None:
        return curve_name(self.key)

    @property
    def ssh_type(self) -> str:
        return ssh_key_type(self.key)

    @property
    def blob(self) -> bytes:
        """The SSH wire encoding (what fingerprints and authorized_keys are made of)."""
        return encode_public_blob(self.key)

    def same_key(self, other: PublicKey) -> bool:
        return self.blob == other.blob


@dataclass(frozen=True, eq=False)
class PrivateKey:
    """A private key and its comment. Never printed: ``repr`` hides the material."""

    key: SshPrivateKey
    comment: str = ""

    def __repr__(self) -> str:
        return f"PrivateKey({self.public.ssh_type}, comment={self.comment!r})"

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key(), self.comment)

    @property
    def algorithm(self) -> Algorithm:
        return self.public.algorithm

    @property
    def bits(self) -> int:
        return self.public.bits

    @property
    def curve(self) -> str | None:
        return self.public.curve

    def with_comment(self, comment: str) -> PrivateKey:
        return PrivateKey(self.key, comment)


@dataclass(frozen=True)
class KeyInfo:
    """What a key file tells without its passphrase (and more once it is opened).

    ``public`` is None only for an encrypted file whose format hides the public key
    (encrypted PEM/PKCS#8); ``algorithm`` may still be known from the PEM label.
    """

    format: KeyFormat
    is_private: bool
    encrypted: bool
    algorithm: Algorithm | None
    public: PublicKey | None
    comment: str = ""

    @property
    def bits(self) -> int | None:
        return self.public.bits if self.public else None

    @property
    def curve(self) -> str | None:
        return self.public.curve if self.public else None
