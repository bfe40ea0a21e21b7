"""OpenSSH's own formats: the private key file (``openssh-key-v1``, PROTOCOL.key; the
default of ssh-keygen since 7.8) and the one-line public key (``ssh-ed25519 AAAA... c``).

The container is parsed here rather than by ``cryptography`` because we need what it
drops: the comment, whether the file is encrypted, the public key without the passphrase,
and the difference between a wrong passphrase and a damaged file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from gitward.errors import KeyFormatError, KeyIntegrityError, WrongPassphrase
from gitward.keys import algorithms as algs
from gitward.keys.armor import b64decode, b64encode, check_size, pem_armor, pem_body, to_text
from gitward.keys.codec import FormatCodec, WriteOptions
from gitward.keys.model import KeyFormat, KeyInfo, PassphraseRequired, PrivateKey, PublicKey
from gitward.keys.wire import WireReader, WireWriter

LABEL = "OPENSSH PRIVATE KEY"
MAGIC = b"openssh-key-v1\x00"
# bcrypt_pbkdf costs grow linearly with rounds; ssh-keygen uses 16 (``-a`` raises it).
# Past this a file would make us work for minutes, so it is refused before any work.
MAX_BCRYPT_ROUNDS = 2048
MAX_SALT_BYTES = 64
WRITE_CIPHER = "aes256-ctr"


@dataclass(frozen=True)
class _Cipher:
    key_len: int
    iv_len: int
    block: int
    tag_len: int = 0


_CIPHERS = {
    "none": _Cipher(0, 0, 8),
    "3des-cbc": _Cipher(24, 8, 8),
    "aes128-ctr": _Cipher(16, 16, 16),
    "aes192-ctr": _Cipher(24, 16, 16),
    "aes256-ctr": _Cipher(32, 16, 16),
    "aes128-cbc": _Cipher(16, 16, 16),
    "aes192-cbc": _Cipher(24, 16, 16),
    "aes256-cbc": _Cipher(32, 16, 16),
    "aes128-gcm@openssh.com": _Cipher(16, 12, 16, 16),
    "aes256-gcm@openssh.com": _Cipher(32, 12, 16, 16),
    "chacha20-poly1305@openssh.com": _Cipher(64, 0, 8, 16),
}


@dataclass(frozen=True)
class _Container:
    cipher_name: str
    cipher: _Cipher
    salt: bytes
    rounds: int
    public_blob: bytes
    sealed: bytes  # the private section, encrypted unless cipher is "none"
    tag: bytes  # AEAD ciphers only

    @property
    def encrypted(self) -> bool:
        return self.cipher_name != "none"


def sniff(data: bytes) -> bool:
    return f"-----BEGIN {LABEL}-----".encode() in data[:4096]


def _parse(data: bytes) -> _Container:
    check_size(data)
    reader = WireReader(pem_body(data, LABEL), what="OpenSSH private key")
    if reader.raw(len(MAGIC)) != MAGIC:
        raise KeyFormatError("the OpenSSH private key has a wrong header")
    cipher_name, kdf_name, kdf_options = reader.text(), reader.text(), reader.string()
    cipher = _CIPHERS.get(cipher_name)
    if cipher is None:
        raise KeyFormatError(
            f"the OpenSSH private key uses a cipher Gitward does not read "
            f"({cipher_name[:40]!r}): re-encrypt it with `ssh-keygen -p -Z aes256-ctr`",
            cause=f"cipher {cipher_name!r}",
        )
    salt, rounds = b"", 0
    if cipher_name == "none":
        if kdf_name != "none" or kdf_options:
            raise KeyFormatError("the OpenSSH private key has inconsistent KDF fields")
    else:
        if kdf_name != "bcrypt":
            raise KeyFormatError(f"the OpenSSH private key uses an unknown KDF {kdf_name[:40]!r}")
        options = WireReader(kdf_options, what="OpenSSH KDF options")
        salt, rounds = options.string(), options.uint32()
        options.expect_end()
        if not 0 < rounds <= MAX_BCRYPT_ROUNDS or not 0 < len(salt) <= MAX_SALT_BYTES:
            raise KeyFormatError(
                f"the OpenSSH private key asks for {rounds} bcrypt rounds "
                f"(at most {MAX_BCRYPT_ROUNDS} are allowed)",
                cause=f"rounds={rounds} salt={len(salt)} bytes",
            )
    if reader.uint32() != 1:
        raise KeyFormatError("the OpenSSH private key file must hold exactly one key")
    public_blob = reader.string()
    sealed = reader.string()
    tag = reader.raw(cipher.tag_len)
    reader.expect_end()
    if len(sealed) % cipher.block:
        raise KeyFormatError("the OpenSSH private key's private section is truncated")
    return _Container(cipher_name, cipher, salt, rounds, public_blob, sealed, tag)


def _bcrypt_kdf(passphrase: bytes, salt: bytes, length: int, rounds: int) -> bytes:
    try:
        import bcrypt
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise KeyFormatError(
            "encrypted OpenSSH keys need the Python package bcrypt, which is missing",
            cause=repr(exc),
        ) from exc
    if not passphrase:
        raise WrongPassphrase("wrong passphrase: the key is encrypted")
    derived: bytes = bcrypt.kdf(passphrase, salt, length, rounds, ignore_few_rounds=True)
    return derived


def _chacha_poly_keys(key: bytes) -> tuple[bytes, bytes]:
    """OpenSSH's chacha20-poly1305: main key = first 32 bytes, sequence number 0; the
    Poly1305 key is the keystream's first block, the payload starts at block counter 1."""
    main = key[:32]
    zero_block = Cipher(algorithms.ChaCha20(main, bytes(16)), None).encryptor()
    return main, zero_block.update(bytes(32))


def _chacha_crypt(main: bytes, data: bytes) -> bytes:
    nonce = (1).to_bytes(8, "little") + bytes(8)  # counter 1, sequence number 0
    return Cipher(algorithms.ChaCha20(main, nonce), None).encryptor().update(data)


def _block_decrypt(name: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    mode: modes.CTR | modes.CBC = modes.CTR(iv) if "-ctr" in name else modes.CBC(iv)
    cipher = TripleDES(key) if name == "3des-cbc" else algorithms.AES(key)
    decryptor = Cipher(cipher, mode).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _unseal(container: _Container, passphrase: bytes) -> bytes:
    cipher = container.cipher
    material = _bcrypt_kdf(
        passphrase, container.salt, cipher.key_len + cipher.iv_len, container.rounds
    )
    key, iv = material[: cipher.key_len], material[cipher.key_len :]
    name = container.cipher_name
    try:
        if name.startswith("chacha20"):
            main, poly_key = _chacha_poly_keys(key)
            Poly1305.verify_tag(poly_key, container.sealed, container.tag)
            return _chacha_crypt(main, container.sealed)
        if "-gcm@" in name:
            return AESGCM(key).decrypt(iv, container.sealed + container.tag, None)
    except (InvalidTag, InvalidSignature) as exc:
        raise WrongPassphrase(
            "wrong passphrase (or the key file is damaged: its tag does not match)",
            cause=f"{name} tag mismatch",
        ) from exc
    return _block_decrypt(name, key, iv, container.sealed)


def _seal(plain: bytes, passphrase: bytes, salt: bytes, rounds: int) -> bytes:
    cipher = _CIPHERS[WRITE_CIPHER]
    material = _bcrypt_kdf(passphrase, salt, cipher.key_len + cipher.iv_len, rounds)
    key, iv = material[: cipher.key_len], material[cipher.key_len :]
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(plain) + encryptor.finalize()


def _read_private_section(plain: bytes, container: _Container) -> PrivateKey:
    reader = WireReader(plain, what="OpenSSH private key")
    check1, check2 = reader.uint32(), reader.uint32()
    if check1 != check2:
        if container.encrypted:
            raise WrongPassphrase("wrong passphrase", cause="OpenSSH check bytes differ")
        raise KeyIntegrityError("the OpenSSH private key is damaged: its check bytes do not match")
    key = algs.read_openssh_private(reader)
    comment = reader.text()
    padding = reader.rest()
    # OpenSSH pads to its block size, PuTTY to 16; both count 1, 2, 3, ...
    if padding != bytes(i & 0xFF for i in range(1, len(padding) + 1)):
        raise KeyFormatError("the OpenSSH private key's padding is damaged")
    private = PrivateKey(key, comment)
    if private.public.blob != container.public_blob:
        raise KeyIntegrityError(
            "the OpenSSH private key is damaged: its public and private halves differ"
        )
    return private


def load_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    container = _parse(data)
    plain = container.sealed
    if container.encrypted:
        if passphrase is None:
            raise PassphraseRequired("the key is encrypted: a passphrase is needed")
        plain = _unseal(container, passphrase)
    return _read_private_section(plain, container)


def peek(data: bytes) -> KeyInfo:
    container = _parse(data)
    public = PublicKey(algs.decode_public_blob(container.public_blob))
    comment = ""
    if not container.encrypted:
        comment = _read_private_section(container.sealed, container).comment
    return KeyInfo(
        format=KeyFormat.OPENSSH,
        is_private=True,
        encrypted=container.encrypted,
        algorithm=public.algorithm,
        public=PublicKey(public.key, comment),
        comment=comment,
    )


def write_private(key: PrivateKey, options: WriteOptions) -> bytes:
    passphrase = options.passphrase or None
    cipher_name = WRITE_CIPHER if passphrase else "none"
    block = _CIPHERS[cipher_name].block
    check = os.urandom(4)
    section = WireWriter().raw(check + check)
    algs.write_openssh_private(key.key, section)
    section.string(key.comment)
    plain = section.getvalue()
    pad = -len(plain) % block
    plain += bytes(range(1, pad + 1))

    out = WireWriter().raw(MAGIC).string(cipher_name)
    if passphrase:
        salt = os.urandom(16)
        out.string("bcrypt").string(
            WireWriter().string(salt).uint32(options.bcrypt_rounds).getvalue()
        )
        plain = _seal(plain, passphrase, salt, options.bcrypt_rounds)
    else:
        out.string("none").string(b"")
    out.uint32(1).string(key.public.blob).string(plain)
    return pem_armor(LABEL, out.getvalue(), width=70)


# ---- the one-line public key ---------------------------------------------------------

_LINE = re.compile(
    r"(?:^|\s)(?P<type>(?:ssh|ecdsa|sk)-[A-Za-z0-9@.\-]+)\s+(?P<b64>[A-Za-z0-9+/]+={0,2})"
    r"(?:[ \t]+(?P<comment>[^\r\n]*))?\s*$"
)


def _key_lines(data: bytes) -> list[str]:
    text = to_text(data, what="public key file")
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def sniff_public(data: bytes) -> bool:
    head = data[:8192]
    try:
        lines = _key_lines(head)
    except KeyFormatError:
        return False
    return bool(lines) and _LINE.search(lines[0]) is not None


def load_public(data: bytes) -> PublicKey:
    check_size(data)
    lines = _key_lines(data)
    if len(lines) != 1:
        raise KeyFormatError(
            f"the file holds {len(lines)} key lines; give a file with exactly one key"
        )
    match = _LINE.search(lines[0])
    if match is None:
        raise KeyFormatError("the line is not an OpenSSH public key")
    stated = match.group("type")
    if stated not in algs.KNOWN_SSH_TYPES:
        raise algs.unsupported_type(stated)
    blob = b64decode(match.group("b64"), what="public key")
    key = algs.decode_public_blob(blob)
    if algs.ssh_key_type(key) != stated:
        raise KeyFormatError("the public key line names a type that its data does not hold")
    return PublicKey(key, (match.group("comment") or "").strip())


def peek_public(data: bytes) -> KeyInfo:
    public = load_public(data)
    return KeyInfo(KeyFormat.OPENSSH_PUBLIC, False, False, public.algorithm, public, public.comment)


def write_public(key: PublicKey) -> bytes:
    comment = " ".join(key.comment.split())  # one line, whatever the comment held
    line = f"{key.ssh_type} {b64encode(key.blob)}"
    return (f"{line} {comment}" if comment else line).encode("utf-8") + b"\n"


PRIVATE = FormatCodec(
    format=KeyFormat.OPENSSH,
    description="OpenSSH private key (ssh-keygen's default)",
    is_private=True,
    sniff=sniff,
    peek=peek,
    load_private=load_private,
    write_private=write_private,
)
PUBLIC = FormatCodec(
    format=KeyFormat.OPENSSH_PUBLIC,
    description="OpenSSH public key line (authorized_keys, .pub)",
    is_private=False,
    sniff=sniff_public,
    peek=peek_public,
    load_public=load_public,
    write_public=write_public,
)
