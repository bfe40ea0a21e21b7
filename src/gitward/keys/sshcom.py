"""The ssh.com (SECSH) private key format, as ``puttygen -O private-sshcom`` writes it.
Read only (its one cipher is 3DES keyed by MD5 of the passphrase): nobody should be
writing new keys in it, but people still arrive with them.

Layout (PuTTY's import.c): magic 0x3f6ff9eb, uint32 total size, string key type,
string cipher, string blob; the blob holds uint32 length, then for RSA the ssh.com
integers e, d, n, u, p, q and for DSA uint32 0, p, g, q, y, x. An ssh.com integer is a
uint32 bit count followed by the bytes.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from gitward.errors import KeyFormatError, WrongPassphrase
from gitward.keys import algorithms as algs
from gitward.keys.armor import b64decode, check_size, to_text
from gitward.keys.codec import FormatCodec
from gitward.keys.model import KeyFormat, KeyInfo, PassphraseRequired, PrivateKey
from gitward.keys.wire import WireReader

BEGIN = "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----"
END = "---- END SSH2 ENCRYPTED PRIVATE KEY ----"
MAGIC = 0x3F6FF9EB
FIX = "convert it with `puttygen KEY -O private-openssh-new -o KEY.openssh`"


def sniff(data: bytes) -> bool:
    return BEGIN.encode() in data[:4096]


def _mpint(reader: WireReader) -> int:
    bits = reader.uint32()
    return int.from_bytes(reader.raw((bits + 7) // 8), "big")


def _parse(data: bytes) -> tuple[str, bool, str, bytes]:
    check_size(data)
    lines = [ln.strip() for ln in to_text(data).splitlines()]
    try:
        body_lines = lines[lines.index(BEGIN) + 1 : lines.index(END)]
    except ValueError as exc:
        raise KeyFormatError("the ssh.com private key block is incomplete") from exc
    comment = ""
    i = 0
    while i < len(body_lines) and ":" in body_lines[i]:
        tag, _, value = body_lines[i].partition(":")
        while value.endswith("\\") and i + 1 < len(body_lines):
            i += 1
            value = value[:-1] + body_lines[i]
        if tag.strip().lower() == "comment":
            comment = value.strip().strip('"')
        i += 1
    reader = WireReader(b64decode("".join(body_lines[i:]), what="ssh.com key"), what="ssh.com key")
    if reader.uint32() != MAGIC:
        raise KeyFormatError("the ssh.com private key has a wrong magic number")
    reader.uint32()  # total size, redundant with the armor
    key_type = reader.text()
    cipher = reader.text()
    blob = reader.string()
    return key_type, cipher != "none", comment, blob


def _decrypt(blob: bytes, passphrase: bytes) -> bytes:
    """3DES-CBC, zero IV, key = first 24 bytes of MD5(pp) || MD5(pp || MD5(pp))."""
    if len(blob) % 8:
        raise KeyFormatError("the ssh.com private key is truncated")
    first = hashlib.md5(passphrase, usedforsecurity=False).digest()
    second = hashlib.md5(passphrase + first, usedforsecurity=False).digest()
    decryptor = Cipher(TripleDES((first + second)[:24]), modes.CBC(bytes(8))).decryptor()
    return decryptor.update(blob) + decryptor.finalize()


def load_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    key_type, encrypted, comment, blob = _parse(data)
    if encrypted:
        if passphrase is None:
            raise PassphraseRequired("the key is encrypted: a passphrase is needed")
        try:
            return PrivateKey(_read_key(key_type, _decrypt(blob, passphrase)), comment)
        except WrongPassphrase:
            raise
        except KeyFormatError as exc:
            # The format has no MAC: garbage after decryption means a wrong passphrase.
            raise WrongPassphrase("wrong passphrase", cause=exc.cause) from exc
    return PrivateKey(_read_key(key_type, blob), comment)


def _read_key(key_type: str, blob: bytes) -> algs.SshPrivateKey:
    reader = WireReader(blob, what="ssh.com key")
    inner = WireReader(reader.string(), what="ssh.com key")
    key: algs.SshPrivateKey
    if key_type.startswith("if-modn{sign{rsa"):
        e, d, n, _u, p, q = (_mpint(inner) for _ in range(6))
        key = algs.rsa_private(n, e, d, p, q)
    elif key_type.startswith("dl-modp{sign{dsa"):
        if inner.uint32() != 0:
            raise KeyFormatError("ssh.com DSA keys with predefined parameters are not read")
        p, g, q, y, x = (_mpint(inner) for _ in range(5))
        key = algs.dsa_private(algs.dsa_public(p, q, g, y), x)
    else:
        raise KeyFormatError(f"unsupported ssh.com key type: {FIX}", cause=key_type[:80])
    return key


def peek(data: bytes) -> KeyInfo:
    key_type, encrypted, comment, _ = _parse(data)
    if encrypted:
        algorithm = algs.Algorithm.RSA if key_type.startswith("if-modn") else algs.Algorithm.DSA
        return KeyInfo(KeyFormat.SSHCOM, True, True, algorithm, None, comment)
    private = load_private(data, None)
    return KeyInfo(KeyFormat.SSHCOM, True, False, private.algorithm, private.public, comment)


CODEC = FormatCodec(
    format=KeyFormat.SSHCOM,
    description="ssh.com private key (read only)",
    is_private=True,
    sniff=sniff,
    peek=peek,
    load_private=load_private,
)
