"""PuTTY's private key files, ``.ppk`` version 2 and version 3 (PuTTY 0.75+).

The layout (PuTTY's sshpubk.c, and the "PPK file format" appendix of its manual)::

    PuTTY-User-Key-File-3: ssh-ed25519
    Encryption: aes256-cbc | none
    Comment: ...
    Public-Lines: N            followed by N lines of base64 (the SSH public blob)
    Key-Derivation: Argon2id   v3 and encrypted only, with Argon2-Memory (KiB),
    Argon2-Passes, Argon2-Parallelism and Argon2-Salt (hex)
    Private-Lines: N           followed by N lines of base64 (private blob, padded)
    Private-MAC: hex

The MAC (HMAC-SHA-256 in v3, HMAC-SHA-1 in v2) covers algorithm, encryption, comment,
public blob and the decrypted private blob. It is checked in constant time before any
private key is built or returned. Argon2 parameters are bounded before Argon2 runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gitward.errors import KeyFormatError, KeyIntegrityError, WrongPassphrase
from gitward.keys import algorithms as algs
from gitward.keys.armor import b64decode, b64encode, check_size, to_text, wrap
from gitward.keys.codec import Argon2Params, FormatCodec, WriteOptions
from gitward.keys.model import KeyFormat, KeyInfo, PassphraseRequired, PrivateKey, PublicKey
from gitward.keys.wire import WireWriter

ENCRYPTION = "aes256-cbc"
ARGON2_TYPES = {"Argon2id": Type.ID, "Argon2i": Type.I, "Argon2d": Type.D}
# Refused before Argon2 runs: a file must not be able to make us allocate gigabytes or
# hash for minutes. puttygen writes 8192 KiB and a pass count tuned to ~100 ms.
MAX_ARGON2_MEMORY_KIB = 1 << 20  # 1 GiB
MAX_ARGON2_PASSES = 1000
MAX_ARGON2_WORK_KIB = 1 << 25  # memory x passes: 32 GiB of hashing is already ~a minute
MAX_ARGON2_PARALLELISM = 64
MAX_LINES = 1024  # a 16384-bit RSA key needs far fewer base64 lines
V2_MAC_KEY_PREFIX = b"putty-private-key-file-mac-key"


@dataclass(frozen=True)
class PpkFile:
    version: int
    key_type: str
    encryption: str
    comment: str
    public_blob: bytes
    private_blob: bytes  # still encrypted when encryption != "none"
    mac: bytes
    argon2: Argon2Params | None  # v3 encrypted only

    @property
    def encrypted(self) -> bool:
        return self.encryption != "none"


# ---- reading the text --------------------------------------------------------------


class _Lines:
    """The file's lines, read strictly in the order PuTTY writes them."""

    def __init__(self, data: bytes) -> None:
        check_size(data)
        self._lines = to_text(data, what=".ppk file").splitlines()
        self._pos = 0

    def header(self, name: str) -> str:
        if self._pos >= len(self._lines):
            raise KeyFormatError(f"the .ppk file is truncated: {name} is missing")
        key, sep, value = self._lines[self._pos].partition(": ")
        if not sep or key != name:
            raise KeyFormatError(
                f"the .ppk file is damaged: expected the {name} line",
                cause=f"line {self._pos + 1} starts {key[:40]!r}",
            )
        self._pos += 1
        return value

    def number(self, name: str, limit: int) -> int:
        value = self.header(name)
        if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) > limit:
            raise KeyFormatError(
                f"the .ppk file's {name} value {value[:20]!r} is out of range (at most {limit})"
            )
        return int(value)

    def base64_block(self, name: str) -> bytes:
        count = self.number(name, MAX_LINES)
        if self._pos + count > len(self._lines):
            raise KeyFormatError(f"the .ppk file is truncated in its {name} block")
        block = "".join(self._lines[self._pos : self._pos + count])
        self._pos += count
        return b64decode(block, what=".ppk " + name)

    def expect_end(self) -> None:
        if any(line.strip() for line in self._lines[self._pos :]):
            raise KeyFormatError("the .ppk file has unexpected lines after its MAC")


def _read_argon2(lines: _Lines) -> Argon2Params:
    flavour = lines.header("Key-Derivation")
    if flavour not in ARGON2_TYPES:
        raise KeyFormatError(f"the .ppk file uses an unknown key derivation {flavour[:20]!r}")
    memory = lines.number("Argon2-Memory", MAX_ARGON2_MEMORY_KIB)
    passes = lines.number("Argon2-Passes", MAX_ARGON2_PASSES)
    parallelism = lines.number("Argon2-Parallelism", MAX_ARGON2_PARALLELISM)
    salt_hex = lines.header("Argon2-Salt")
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2}){8,64}", salt_hex):
        raise KeyFormatError("the .ppk file's Argon2 salt is damaged")
    if passes < 1 or parallelism < 1 or memory < 8 * parallelism:
        raise KeyFormatError(
            "the .ppk file's Argon2 parameters are invalid",
            cause=f"memory={memory} passes={passes} parallelism={parallelism}",
        )
    if memory * passes > MAX_ARGON2_WORK_KIB:
        raise KeyFormatError(
            f"the .ppk file's Argon2 parameters ask for too much work "
            f"({memory} KiB x {passes} passes); re-save it with puttygen's defaults",
            cause=f"memory={memory} passes={passes}",
        )
    return Argon2Params(flavour, memory, passes, parallelism, bytes.fromhex(salt_hex))


def parse(data: bytes) -> PpkFile:
    lines = _Lines(data)
    first = lines._lines[0] if lines._lines else ""
    match = re.fullmatch(r"PuTTY-User-Key-File-(\d+): (.*)", first)
    if match is None:
        raise KeyFormatError("this is not a PuTTY .ppk file")
    version = int(match.group(1)[:3])
    if version not in (2, 3):
        fix = " (version 1 is obsolete: re-save it with puttygen)" if version == 1 else ""
        raise KeyFormatError(f"unsupported .ppk version {version}{fix}")
    lines._pos = 1
    key_type = match.group(2)
    encryption = lines.header("Encryption")
    if encryption not in ("none", ENCRYPTION):
        raise KeyFormatError(f"the .ppk file uses an unknown encryption {encryption[:20]!r}")
    comment = lines.header("Comment")
    public_blob = lines.base64_block("Public-Lines")
    argon2 = _read_argon2(lines) if version == 3 and encryption != "none" else None
    private_blob = lines.base64_block("Private-Lines")
    mac_hex = lines.header("Private-MAC")
    lines.expect_end()
    mac_len = 32 if version == 3 else 20
    if not re.fullmatch(rf"[0-9a-fA-F]{{{2 * mac_len}}}", mac_hex):
        raise KeyFormatError("the .ppk file's MAC line is damaged")
    if encryption != "none" and (not private_blob or len(private_blob) % 16):
        raise KeyFormatError("the .ppk file's private part is truncated")
    return PpkFile(
        version,
        key_type,
        encryption,
        comment,
        public_blob,
        private_blob,
        bytes.fromhex(mac_hex),
        argon2,
    )


# ---- keys, MACs and encryption ------------------------------------------------------


@dataclass(frozen=True)
class _Secrets:
    cipher_key: bytes
    iv: bytes
    mac_key: bytes


def _argon2(passphrase: bytes, params: Argon2Params) -> bytes:
    try:
        return hash_secret_raw(
            secret=passphrase,
            salt=params.salt or b"",
            time_cost=params.passes,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=80,
            type=ARGON2_TYPES[params.flavour],
        )
    except (HashingError, ValueError, KeyError) as exc:
        raise KeyFormatError(
            "the .ppk file's Argon2 parameters are invalid", cause=repr(exc)
        ) from exc


def _secrets(version: int, passphrase: bytes | None, argon2: Argon2Params | None) -> _Secrets:
    if version == 3:
        if passphrase is None or argon2 is None:
            return _Secrets(b"", b"", b"")  # unencrypted v3: HMAC with an empty key
        out = _argon2(passphrase, argon2)
        return _Secrets(out[:32], out[32:48], out[48:80])
    pp = passphrase or b""
    cipher_key = (
        hashlib.sha1(b"\0\0\0\0" + pp).digest() + hashlib.sha1(b"\0\0\0\1" + pp).digest()
    )[:32]
    mac_key = hashlib.sha1(V2_MAC_KEY_PREFIX + pp).digest()
    return _Secrets(cipher_key, bytes(16), mac_key)


def _mac(version: int, mac_key: bytes, ppk: PpkFile, private_plain: bytes) -> bytes:
    data = (
        WireWriter()
        .string(ppk.key_type)
        .string(ppk.encryption)
        .string(ppk.comment)
        .string(ppk.public_blob)
        .string(private_plain)
        .getvalue()
    )
    digest = hashlib.sha256 if version == 3 else hashlib.sha1
    return hmac.new(mac_key, data, digest).digest()


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def _public(ppk: PpkFile) -> PublicKey:
    key = algs.decode_public_blob(ppk.public_blob)
    if algs.ssh_key_type(key) != ppk.key_type:
        raise KeyFormatError("the .ppk file's header and public key name different types")
    return PublicKey(key, ppk.comment)


def _decrypts_to_the_key(public: PublicKey, plain: bytes) -> bool:
    """Whether a blob that failed its MAC still holds the right private key: then the
    passphrase was right and the file was altered elsewhere (comment, header...)."""
    try:
        algs.read_ppk_private(public.key, plain)
    except KeyFormatError:
        return False
    return True


def load_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    ppk = parse(data)
    public = _public(ppk)
    if ppk.encrypted and passphrase is None:
        raise PassphraseRequired("the key is encrypted: a passphrase is needed")
    secrets = _secrets(ppk.version, passphrase if ppk.encrypted else None, ppk.argon2)
    plain = ppk.private_blob
    if ppk.encrypted:
        plain = _aes_cbc(secrets.cipher_key, secrets.iv, plain, encrypt=False)
    if not hmac.compare_digest(_mac(ppk.version, secrets.mac_key, ppk, plain), ppk.mac):
        if ppk.encrypted and not _decrypts_to_the_key(public, plain):
            raise WrongPassphrase("wrong passphrase", cause=".ppk MAC mismatch")
        raise KeyIntegrityError(
            "the .ppk file's MAC does not match: the file is damaged or was altered",
            cause=".ppk MAC mismatch",
        )
    return PrivateKey(algs.read_ppk_private(public.key, plain), ppk.comment)


def peek(data: bytes) -> KeyInfo:
    ppk = parse(data)
    public = _public(ppk)
    return KeyInfo(
        format=KeyFormat.PPK3 if ppk.version == 3 else KeyFormat.PPK2,
        is_private=True,
        encrypted=ppk.encrypted,
        algorithm=public.algorithm,
        public=public,
        comment=ppk.comment,
    )


# ---- writing --------------------------------------------------------------------------


def _pad(private_plain: bytes) -> bytes:
    # PuTTY pads with the start of SHA-1 of the unpadded blob, not random bytes: the
    # output of an unencrypted save is then deterministic.
    pad = -len(private_plain) % 16
    return private_plain + hashlib.sha1(private_plain).digest()[:pad]


def write(key: PrivateKey, options: WriteOptions, version: int) -> bytes:
    passphrase = options.passphrase or None
    encryption = ENCRYPTION if passphrase else "none"
    comment = " ".join(key.comment.splitlines())
    argon2: Argon2Params | None = None
    if version == 3 and passphrase:
        argon2 = options.argon2
        if argon2.salt is None:
            argon2 = Argon2Params(
                argon2.flavour, argon2.memory_kib, argon2.passes, argon2.parallelism, os.urandom(16)
            )
    plain = algs.write_ppk_private(key.key)
    if passphrase:
        plain = _pad(plain)
    secrets = _secrets(version, passphrase, argon2)
    blob = key.public.blob
    ppk = PpkFile(version, key.public.ssh_type, encryption, comment, blob, b"", b"", argon2)
    mac = _mac(version, secrets.mac_key, ppk, plain)
    sealed = _aes_cbc(secrets.cipher_key, secrets.iv, plain, encrypt=True) if passphrase else plain

    public_lines = wrap(b64encode(blob), 64)
    private_lines = wrap(b64encode(sealed), 64)
    out = [
        f"PuTTY-User-Key-File-{version}: {ppk.key_type}",
        f"Encryption: {encryption}",
        f"Comment: {comment}",
        f"Public-Lines: {len(public_lines)}",
        *public_lines,
    ]
    if argon2 is not None:
        out += [
            f"Key-Derivation: {argon2.flavour}",
            f"Argon2-Memory: {argon2.memory_kib}",
            f"Argon2-Passes: {argon2.passes}",
            f"Argon2-Parallelism: {argon2.parallelism}",
            f"Argon2-Salt: {(argon2.salt or b'').hex()}",
        ]
    out += [f"Private-Lines: {len(private_lines)}", *private_lines, f"Private-MAC: {mac.hex()}"]
    return ("\n".join(out) + "\n").encode("utf-8")


def write_v3(key: PrivateKey, options: WriteOptions) -> bytes:
    return write(key, options, 3)


def write_v2(key: PrivateKey, options: WriteOptions) -> bytes:
    return write(key, options, 2)


def sniff(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf").startswith(b"PuTTY-User-Key-File-")


V3 = FormatCodec(
    format=KeyFormat.PPK3,
    description="PuTTY private key, version 3 (PuTTY 0.75 and later)",
    is_private=True,
    sniff=lambda data: data.lstrip(b"\xef\xbb\xbf").startswith(b"PuTTY-User-Key-File-3:"),
    peek=peek,
    load_private=load_private,
    write_private=write_v3,
)
V2 = FormatCodec(
    format=KeyFormat.PPK2,
    description="PuTTY private key, version 2 (every PuTTY version)",
    is_private=True,
    # Version 2 and anything else PuTTY-shaped: parse() explains unsupported versions.
    sniff=sniff,
    peek=peek,
    load_private=load_private,
    write_private=write_v2,
)
