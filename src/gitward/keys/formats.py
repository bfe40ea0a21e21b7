"""The one table of formats, format detection, and the names users write formats with.

Adding a format: write its module with a ``FormatCodec`` and add it to ``FORMATS``.
"""

from __future__ import annotations

from gitward.errors import KeyFormatError, KeyRejected
from gitward.keys import openssh, pem, ppk, rfc4716, sshcom
from gitward.keys.codec import FormatCodec
from gitward.keys.model import Algorithm, KeyFormat

# Order is the order of sniffing: the most specific markers first, binary DER last.
FORMATS: tuple[FormatCodec, ...] = (
    openssh.PRIVATE,
    ppk.V3,
    ppk.V2,
    pem.PKCS1,
    pem.SEC1,
    pem.DSA_PEM,
    pem.PKCS8,
    sshcom.CODEC,
    rfc4716.CODEC,
    pem.SPKI,
    pem.PKCS1_PUBLIC,
    openssh.PUBLIC,
    pem.DER,
)
BY_FORMAT = {codec.format: codec for codec in FORMATS}

# Names accepted by --to / --format besides the KeyFormat values themselves.
PRIVATE_ALIASES = {"ppk": KeyFormat.PPK3}  # ("pem" depends on the algorithm: see below)
PUBLIC_ALIASES = {"public": KeyFormat.OPENSSH_PUBLIC, "openssh": KeyFormat.OPENSSH_PUBLIC}

# Every name a user can write a private key to, and a public key to.
PRIVATE_TARGETS = (
    "openssh",
    "pem",
    "pkcs8",
    "ppk",
    "ppk2",
    "ppk3",
    "pkcs1",
    "sec1",
    "dsa-pem",
    "der",
)
PUBLIC_TARGETS = ("public", "openssh-public", "rfc4716", "spki", "pkcs1-public")


def codec_for(fmt: KeyFormat) -> FormatCodec:
    return BY_FORMAT[fmt]


def detect(data: bytes) -> FormatCodec:
    """The codec whose markers the data carries. Only sniffs; parsing comes later."""
    for codec in FORMATS:
        if codec.sniff(data):
            return codec
    if not data.strip():
        raise KeyFormatError("the file is empty")
    raise KeyFormatError(
        "this is not a key in any format Gitward knows (OpenSSH, PEM, PKCS#8, PuTTY .ppk, "
        "RFC 4716, DER)",
        cause=f"first bytes {data[:16]!r}",
    )


def private_format(name: str | KeyFormat, algorithm: Algorithm) -> KeyFormat:
    """Resolve a user's format name for writing a private key of this algorithm."""
    if name == "pem":
        fmt = pem.TRADITIONAL_FOR.get(algorithm)
        if fmt is None:
            raise KeyRejected(
                f"{algorithm.name.capitalize()} keys have no traditional PEM form "
                "(PKCS#1/SEC1): write pkcs8 or openssh instead, or make an RSA key for "
                "PEM-only clients"
            )
        return fmt
    fmt = PRIVATE_ALIASES.get(str(name)) or _known(name)
    if BY_FORMAT[fmt].write_private is None:
        raise KeyRejected(f"Gitward does not write private keys in the {fmt} format")
    return fmt


def public_format(name: str | KeyFormat) -> KeyFormat:
    fmt = PUBLIC_ALIASES.get(str(name)) or _known(name)
    if BY_FORMAT[fmt].write_public is None:
        raise KeyRejected(f"{fmt} is not a public key format")
    return fmt


def _known(name: str | KeyFormat) -> KeyFormat:
    try:
        return KeyFormat(name)
    except ValueError:
        raise KeyRejected(f"unknown key format {str(name)[:30]!r}") from None
