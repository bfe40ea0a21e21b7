"""Key fingerprints exactly as OpenSSH prints them (``ssh-keygen -l [-E md5]``)."""

from __future__ import annotations

import base64
import hashlib

from gitward.keys.model import PrivateKey, PublicKey


def _blob(key: PublicKey | PrivateKey) -> bytes:
    return key.public.blob if isinstance(key, PrivateKey) else key.blob


def sha256_fingerprint(blob: bytes) -> str:
    """``SHA256:`` and unpadded base64 of SHA-256 over a public key (or certificate) blob."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def fingerprint_sha256(key: PublicKey | PrivateKey) -> str:
    """The SHA256 fingerprint of a loaded key."""
    return sha256_fingerprint(_blob(key))


def fingerprint_md5(key: PublicKey | PrivateKey) -> str:
    """``MD5:`` and colon-separated hex, the form OpenSSH used before 6.8."""
    digest = hashlib.md5(_blob(key), usedforsecurity=False).hexdigest()
    return "MD5:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
