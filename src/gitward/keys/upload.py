"""Validation of a public key someone uploads: a user key, a deploy key, or a CA key.

Pure: bytes in, an ``UploadedKey`` or a ``KeyRejected``/``KeyFormatError`` out. Each refusal
has its own message that says what to do instead. Nothing of a private key pasted by
mistake goes into a message or a log cause.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from gitward.errors import KeyFormatError, KeyRejected
from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED, ECDSA_PREFIX
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.wire import WireReader

MIN_RSA_BITS = 2048
MAX_UPLOAD_BYTES = 64 * 1024

_PRIVATE_MARKERS = (
    b"PRIVATE KEY-----",  # OpenSSH, PKCS#1, SEC1, PKCS#8 and encrypted PKCS#8
    b"PuTTY-User-Key-File-",
    b"SSH PRIVATE KEY FILE FORMAT",  # SSH1
)
_PLAIN_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
_CERT_SUFFIX = "-cert-v01@openssh.com"
_AUTHORIZED_KEYS_OPTIONS = (
    "command=",
    "from=",
    "environment=",
    "permitopen=",
    "permitlisten=",
    "principals=",
    "tunnel=",
    "expiry-time=",
    "cert-authority",
    "no-",
    "restrict",
    "agent-forwarding",
    "port-forwarding",
    "pty",
    "user-rc",
    "x11-forwarding",
    "no-touch-required",
    "verify-required",
)


class KeyPurpose(enum.Enum):
    USER = "user"
    DEPLOY = "deploy"
    CA = "ca"


@dataclass(frozen=True)
class UploadedKey:
    """A validated public key, ready to store."""

    key_type: str
    blob: bytes
    comment: str
    fingerprint: str  # SHA256:... as OpenSSH prints it

    @property
    def openssh_line(self) -> str:
        """The key as one line without the comment (comments are the uploader's business)."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"


def looks_private(data: bytes) -> bool:
    """Whether an upload holds a private key: a form must never show it back."""
    return any(marker in data for marker in _PRIVATE_MARKERS)


def validate_public_key_upload(data: bytes, purpose: KeyPurpose) -> UploadedKey:
    """Check an upload holds exactly one acceptable public key, and return it."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise KeyFormatError("the upload is too large to be a public key")
    if any(marker in data for marker in _PRIVATE_MARKERS):
        # Say nothing else: the content is a secret and must not reach a message or a log.
        raise KeyRejected("this is a private key; upload the .pub file", cause="private key upload")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFormatError(_NOT_A_KEY, cause="upload is not UTF-8 text") from exc
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise KeyFormatError("the upload is empty: " + _EXPECTED)
    if lines[0].startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
        raise KeyFormatError(
            "this is an RFC 4716 (SSH2) public key: convert it with "
            "`ssh-keygen -i -f KEY.pub > KEY-openssh.pub` and upload that"
        )
    if len(lines) > 1:
        raise KeyRejected(f"the upload holds {len(lines)} lines; upload one key at a time")
    return _validate_line(lines[0], purpose)


_EXPECTED = "expected one line such as 'ssh-ed25519 AAAAC3Nza... you@example.com'"
_NOT_A_KEY = "this is not an SSH public key; " + _EXPECTED


def _validate_line(line: str, purpose: KeyPurpose) -> UploadedKey:
    fields = line.split(None, 2)
    key_type = fields[0]
    if key_type not in _PLAIN_TYPES and not key_type.endswith(_CERT_SUFFIX):
        if key_type == "ssh-dss":
            raise KeyRejected(_DSA_REFUSED)
        if key_type.startswith(_AUTHORIZED_KEYS_OPTIONS) or "=" in key_type:
            raise KeyRejected(
                "this line carries authorized_keys options (such as command=); "
                "upload the key alone: 'TYPE BASE64 [COMMENT]'"
            )
        raise KeyFormatError(_NOT_A_KEY, cause=f"unknown key type field ({len(key_type)} chars)")
    if len(fields) < 2:
        raise KeyFormatError("the key has no data after its type; " + _EXPECTED)
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("the key's base64 data is damaged; " + _EXPECTED) from exc
    comment = fields[2] if len(fields) > 2 else ""
    if key_type.endswith(_CERT_SUFFIX):
        raise KeyRejected(_certificate_refusal(purpose))
    _check_blob(key_type, blob)
    return UploadedKey(key_type, blob, comment, sha256_fingerprint(blob))


_DSA_REFUSED = (
    "DSA keys are not accepted (OpenSSH has disabled them as too weak): "
    "generate an Ed25519 key with `ssh-keygen -t ed25519`"
)


def _certificate_refusal(purpose: KeyPurpose) -> str:
    if purpose is KeyPurpose.CA:
        return (
            "this is a certificate, not a certificate authority's key: "
            "upload the CA's own public key (the .pub of the key you sign with)"
        )
    return (
        "this is an SSH certificate (-cert.pub), not a public key: upload the plain .pub file; "
        "certificates need no upload, the server trusts their CA"
    )


def _check_blob(key_type: str, blob: bytes) -> None:
    reader = WireReader(blob, what="public key")
    try:
        inner_type = reader.text()
    except KeyFormatError as exc:
        raise KeyFormatError("the key's data is damaged; " + _EXPECTED) from exc
    if inner_type != key_type:
        raise KeyFormatError(
            "the key's type field does not match its data; the line was altered or damaged",
            cause=f"line says {key_type}, data says {inner_type[:64]!r}",
        )
    if key_type.startswith("sk-"):
        _check_security_key(key_type, reader)
        return
    if key_type.startswith(ECDSA_PREFIX):
        _check_ecdsa_point(reader)
    try:
        key = load_ssh_public_key(f"{key_type} {base64.b64encode(blob).decode()}".encode())
    except (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError("the key's data is damaged; " + _EXPECTED, cause=repr(exc)) from exc
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyRejected(
            f"RSA keys must have at least {MIN_RSA_BITS} bits, this one has {key.key_size}: "
            "generate a new key with `ssh-keygen -t ed25519` (or `-t rsa -b 4096`)"
        )


def _check_ecdsa_point(reader: WireReader) -> None:
    """A compressed point gets its own message (``cryptography`` would raise
    NotImplementedError on it); other damage is left to the full parse that follows."""
    try:
        reader.text()  # the curve name, checked by the parse
        point = reader.string()
    except KeyFormatError:
        return
    if point[:1] in (b"\x02", b"\x03"):
        raise KeyFormatError(COMPRESSED_POINT_REFUSED, cause="compressed ECDSA point")


def _check_security_key(key_type: str, reader: WireReader) -> None:
    """FIDO keys: the public point and the application string, nothing more."""
    try:
        if key_type == "sk-ecdsa-sha2-nistp256@openssh.com":
            if reader.text() != "nistp256" or len(reader.string()) != 65:
                raise KeyFormatError("the security key's public point is damaged")
        elif len(reader.string()) != 32:
            raise KeyFormatError("the security key's public point is damaged")
        reader.text()  # application, e.g. "ssh:"
        reader.expect_end()
    except KeyFormatError as exc:
        raise KeyFormatError("the key's data is damaged; " + _EXPECTED, cause=exc.cause) from exc
