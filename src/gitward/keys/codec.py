"""The contract every format module fulfils, so that one table (``formats.FORMATS``) lists
them all and adding a format means writing one module and one line there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gitward.keys.model import KeyFormat, KeyInfo, PrivateKey, PublicKey


@dataclass(frozen=True)
class Argon2Params:
    """Argon2 settings for writing a .ppk v3. The defaults are puttygen's memory and
    parallelism with a fixed pass count (puttygen times itself to about 100 ms)."""

    flavour: str = "Argon2id"  # or Argon2i, Argon2d
    memory_kib: int = 8192
    passes: int = 13
    parallelism: int = 1
    salt: bytes | None = None  # None: 16 random bytes (tests pass one for fixed output)


@dataclass(frozen=True)
class WriteOptions:
    passphrase: bytes | None = None
    argon2: Argon2Params = field(default_factory=Argon2Params)
    bcrypt_rounds: int = 16  # ssh-keygen's default for OpenSSH private keys


@dataclass(frozen=True)
class FormatCodec:
    """How to recognise, read and write one format. Readers raise only KeyFormatError
    (and its subclasses); ``peek`` reads what the file tells without a passphrase."""

    format: KeyFormat
    description: str
    is_private: bool
    sniff: Callable[[bytes], bool]
    peek: Callable[[bytes], KeyInfo]
    load_private: Callable[[bytes, bytes | None], PrivateKey] | None = None
    load_public: Callable[[bytes], PublicKey] | None = None
    write_private: Callable[[PrivateKey, WriteOptions], bytes] | None = None
    write_public: Callable[[PublicKey], bytes] | None = None
