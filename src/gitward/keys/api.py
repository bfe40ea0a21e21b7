"""The library's entry points: bytes in, keys and bytes out. No files, no clock.

Every reader here raises only KeyFormatError (or its subclasses WrongPassphrase,
PassphraseRequired, KeyIntegrityError) on bad input; writers raise KeyRejected when a key
cannot be written in the format asked for. Anything else escaping a format module would
be a bug, and is still turned into KeyFormatError at this boundary so that callers (the
CLI, the upload endpoint) can rely on the contract.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gitward.errors import GitwardError, KeyFormatError, KeyRejected
from gitward.keys import formats
from gitward.keys.codec import Argon2Params, WriteOptions
from gitward.keys.model import (
    Algorithm,
    KeyFormat,
    KeyInfo,
    PassphraseRequired,
    PrivateKey,
    PublicKey,
)

P = ParamSpec("P")
R = TypeVar("R")


def _only_key_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GitwardError:
            raise
        except Exception as exc:  # the safety net promised above; the cause is logged
            raise KeyFormatError(
                "the key could not be read: it is damaged or in an unknown format",
                cause=f"{type(exc).__name__}: {exc}",
            ) from exc

    return wrapper


@_only_key_errors
def detect_format(data: bytes) -> KeyFormat:
    """The format of a blob, from its markers (without parsing or decrypting it)."""
    return formats.detect(data).format


@_only_key_errors
def inspect_key(data: bytes, passphrase: bytes | None = None) -> KeyInfo:
    """What the blob is. Without a passphrase an encrypted key still tells its format,
    and for OpenSSH and .ppk files its public key; with one, everything."""
    codec = formats.detect(data)
    info = codec.peek(data)
    if info.is_private and info.encrypted and passphrase is not None:
        private = load_private_key(data, passphrase)
        return KeyInfo(
            info.format,
            True,
            True,
            private.algorithm,
            private.public,
            private.comment or info.comment,
        )
    return info


@_only_key_errors
def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Read a private key in any supported format. ``passphrase`` is ignored for keys that
    are not encrypted; for encrypted ones None raises PassphraseRequired."""
    codec = formats.detect(data)
    if codec.load_private is None:
        raise KeyFormatError(
            f"this is a public key ({codec.format}), not a private key",
        )
    return codec.load_private(data, passphrase)


@_only_key_errors
def load_public_key(data: bytes, passphrase: bytes | None = None) -> PublicKey:
    """The public key of any key file: read directly from public formats and from the
    unencrypted parts of OpenSSH and .ppk files, else derived from the private key."""
    codec = formats.detect(data)
    if codec.load_public is not None:
        return codec.load_public(data)
    info = codec.peek(data)
    if info.public is not None:
        return info.public
    if passphrase is None:
        raise PassphraseRequired("the key is encrypted: a passphrase is needed")
    return load_private_key(data, passphrase).public


def export_private_key(
    key: PrivateKey,
    fmt: str | KeyFormat,
    passphrase: bytes | None = None,
    *,
    argon2: Argon2Params | None = None,
    bcrypt_rounds: int = 16,
) -> bytes:
    """Write ``key`` in ``fmt``: openssh, pem (PKCS#1/SEC1 by algorithm), pkcs8, ppk (v3),
    ppk2, der, or a public format (then the public key is written)."""
    if str(fmt) in formats.PUBLIC_TARGETS:
        return export_public_key(key.public, fmt)
    target = formats.private_format(fmt, key.algorithm)
    writer = formats.codec_for(target).write_private
    assert writer is not None  # private_format() checked it
    if target is KeyFormat.OPENSSH and key.algorithm is Algorithm.ED448:
        raise KeyRejected("OpenSSH has no Ed448 keys: write ppk or pkcs8 instead")
    options = WriteOptions(
        passphrase=passphrase or None,
        argon2=argon2 or Argon2Params(),
        bcrypt_rounds=bcrypt_rounds,
    )
    return writer(key, options)


def export_public_key(key: PublicKey | PrivateKey, fmt: str | KeyFormat = "public") -> bytes:
    """Write the public key: public (OpenSSH line), rfc4716, spki, pkcs1-public."""
    public = key.public if isinstance(key, PrivateKey) else key
    target = formats.public_format(fmt)
    writer = formats.codec_for(target).write_public
    assert writer is not None  # public_format() checked it
    return writer(public)
