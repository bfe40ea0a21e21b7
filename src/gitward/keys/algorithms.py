"""Per-algorithm knowledge: SSH type names, sizes, and the SSH wire layouts of public keys
and of the private fields that OpenSSH's and PuTTY's formats carry.

``cryptography`` does the key math; this module only moves numbers between the wire
layouts and ``cryptography`` objects, and checks that what it builds is consistent (a
private key whose public half differs from the stored public key is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gitward.errors import KeyFormatError
from gitward.keys.wire import WireReader, WireWriter

SshPrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
SshPublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | dsa.DSAPublicKey
)


class Algorithm(StrEnum):
    RSA = "rsa"
    ED25519 = "ed25519"
    ECDSA = "ecdsa"
    DSA = "dsa"
    ED448 = "ed448"


# Upper bounds that keep hostile input from buying expensive math: no real SSH key is
# bigger, and checking a 100,000-bit RSA key would take minutes.
MAX_RSA_BITS = 16384
MAX_DSA_BITS = 4096

SSH_RSA = "ssh-rsa"
SSH_DSS = "ssh-dss"
SSH_ED25519 = "ssh-ed25519"
SSH_ED448 = "ssh-ed448"
ECDSA_PREFIX = "ecdsa-sha2-"

# SSH curve identifier -> cryptography curve class.
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "nistp256": ec.SECP256R1,
    "nistp384": ec.SECP384R1,
    "nistp521": ec.SECP521R1,
}
CURVE_BY_BITS = {256: "nistp256", 384: "nistp384", 521: "nistp521"}
_CURVE_BY_OPENSSL_NAME: dict[str, str] = {cls().name: ssh for ssh, cls in CURVES.items()}

KNOWN_SSH_TYPES = frozenset(
    {SSH_RSA, SSH_DSS, SSH_ED25519, SSH_ED448} | {ECDSA_PREFIX + c for c in CURVES}
)

T = TypeVar("T")


def build(what: str, make: Callable[[], T]) -> T:
    """Run a ``cryptography`` constructor; turn its complaints into KeyFormatError."""
    try:
        return make()
    except (ValueError, TypeError, ArithmeticError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"the {what} is not a valid key", cause=repr(exc)) from exc


def algorithm_of(key: SshPublicKey | SshPrivateKey) -> Algorithm:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return Algorithm.RSA
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return Algorithm.ECDSA
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return Algorithm.ED25519
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return Algorithm.ED448
    if isinstance(key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return Algorithm.DSA
    raise KeyFormatError("this key type is not used by SSH", cause=type(key).__name__)


def curve_name(key: SshPublicKey | SshPrivateKey) -> str | None:
    """The SSH curve identifier (``nistp256``...) of an ECDSA key, else None."""
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return None
    name = _CURVE_BY_OPENSSL_NAME.get(key.curve.name)
    if name is None:
        raise KeyFormatError(
            f"the elliptic curve {key.curve.name} is not used by SSH",
            cause=f"curve {key.curve.name}",
        )
    return name


def key_bits(key: SshPublicKey | SshPrivateKey) -> int:
    """The size ssh-keygen prints: modulus bits, curve bits, 256 for Ed25519."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return 256
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return 448
    return int(key.key_size)


def ssh_key_type(key: SshPublicKey | SshPrivateKey) -> str:
    algorithm = algorithm_of(key)
    if algorithm is Algorithm.ECDSA:
        return ECDSA_PREFIX + str(curve_name(key))
    return {
        Algorithm.RSA: SSH_RSA,
        Algorithm.DSA: SSH_DSS,
        Algorithm.ED25519: SSH_ED25519,
        Algorithm.ED448: SSH_ED448,
    }[algorithm]


def _raw_public(key: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _ec_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# ---- public keys --------------------------------------------------------------------


def encode_public_blob(key: SshPublicKey) -> bytes:
    """The SSH wire encoding of a public key (RFC 4253 6.6, RFC 5656, RFC 8709)."""
    out = WireWriter().string(ssh_key_type(key))
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        out.mpint(numbers.e).mpint(numbers.n)
    elif isinstance(key, dsa.DSAPublicKey):
        dsa_numbers = key.public_numbers()
        params = dsa_numbers.parameter_numbers
        out.mpint(params.p).mpint(params.q).mpint(params.g).mpint(dsa_numbers.y)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        out.string(str(curve_name(key))).string(_ec_point(key))
    else:
        out.string(_raw_public(key))
    return out.getvalue()


def decode_public_blob(blob: bytes) -> SshPublicKey:
    reader = WireReader(blob, what="public key")
    key = read_public_fields(reader, reader.text())
    reader.expect_end()
    return key


def read_public_fields(reader: WireReader, key_type: str) -> SshPublicKey:
    """Read the fields that follow the type name in a public key blob."""
    if key_type == SSH_RSA:
        e, n = reader.mpint(), reader.mpint()
        _check_rsa_size(n)
        return build("RSA public key", lambda: rsa.RSAPublicNumbers(e, n).public_key())
    if key_type == SSH_DSS:
        p, q, g, y = reader.mpint(), reader.mpint(), reader.mpint(), reader.mpint()
        return dsa_public(p, q, g, y)
    if key_type.startswith(ECDSA_PREFIX):
        curve = _curve_for(key_type)
        if reader.text() != key_type[len(ECDSA_PREFIX) :]:
            raise KeyFormatError("the ECDSA key names two different curves")
        point = reader.string()
        return ecdsa_public_from_point(curve(), point)
    if key_type == SSH_ED25519:
        raw = reader.string()
        return build("Ed25519 public key", lambda: ed25519.Ed25519PublicKey.from_public_bytes(raw))
    if key_type == SSH_ED448:
        raw = reader.string()
        return build("Ed448 public key", lambda: ed448.Ed448PublicKey.from_public_bytes(raw))
    raise unsupported_type(key_type)


COMPRESSED_POINT_REFUSED = (
    "this ECDSA key's public point is in compressed form, which SSH does not use "
    "(OpenSSH refuses it too): re-export it uncompressed, e.g. "
    "`openssl ec -pubin -in KEY.pem -conv_form uncompressed`, then `ssh-keygen -i -m PKCS8`, "
    "or generate a new key with `ssh-keygen -t ed25519`"
)


def ec_point_problem(point: bytes) -> str | None:
    """Why an SSH ECDSA point cannot be used, or None (an uncompressed SEC1 point, 0x04).

    RFC 5656 frames the point with SEC1's encoding, which allows a compressed form
    (0x02/0x03); OpenSSH, and every SSH implementation we talk to, reads only the
    uncompressed one, so a compressed key is refused with its own message.
    """
    if point[:1] in (b"\x02", b"\x03"):
        return COMPRESSED_POINT_REFUSED
    if point[:1] != b"\x04":
        return "the ECDSA public key's point is damaged"
    return None


def ecdsa_public_from_point(curve: ec.EllipticCurve, point: bytes) -> ec.EllipticCurvePublicKey:
    """The ECDSA key of an SSH wire point: uncompressed and on the curve, or KeyFormatError."""
    problem = ec_point_problem(point)
    if problem is not None:
        raise KeyFormatError(
            problem, cause=f"ECDSA point starts with {point[:1].hex() or 'nothing'}"
        )
    return build(
        "ECDSA public key", lambda: ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    )


def unsupported_type(key_type: str) -> KeyFormatError:
    shown = key_type if key_type.isprintable() and len(key_type) < 64 else "(unreadable)"
    if "-cert-v01@openssh.com" in key_type:
        return KeyFormatError(
            f"this is an SSH certificate ({shown}), not a key", cause=f"type {key_type!r}"
        )
    if key_type.startswith("sk-"):
        return KeyFormatError(
            f"security-key (FIDO) keys like {shown} live on the token and cannot be converted",
            cause=f"type {key_type!r}",
        )
    return KeyFormatError(f"unsupported SSH key type {shown}", cause=f"type {key_type!r}")


def _curve_for(key_type: str) -> type[ec.EllipticCurve]:
    curve = CURVES.get(key_type[len(ECDSA_PREFIX) :])
    if curve is None:
        raise unsupported_type(key_type)
    return curve


def _check_rsa_size(n: int) -> None:
    if n.bit_length() > MAX_RSA_BITS:
        raise KeyFormatError(
            f"the RSA key is larger than {MAX_RSA_BITS} bits", cause=f"{n.bit_length()} bits"
        )


def _check_dsa_size(p: int) -> None:
    if p.bit_length() > MAX_DSA_BITS:
        raise KeyFormatError(
            f"the DSA key is larger than {MAX_DSA_BITS} bits", cause=f"{p.bit_length()} bits"
        )


def _dsa_public_numbers(p: int, q: int, g: int, y: int) -> dsa.DSAPublicNumbers:
    return dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g))


# ---- private keys: shared constructors ------------------------------------------------


def rsa_private(n: int, e: int, d: int, p: int, q: int) -> rsa.RSAPrivateKey:
    """Build an RSA key from its factors; the CRT values are recomputed, not trusted."""
    _check_rsa_size(n)
    if p < 3 or q < 3 or p * q != n:
        raise KeyFormatError("the RSA key's factors do not match its modulus")

    def make() -> rsa.RSAPrivateKey:
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, n),
        )
        return numbers.private_key()

    return build("RSA private key", make)


def dsa_public(p: int, q: int, g: int, y: int) -> dsa.DSAPublicKey:
    _check_dsa_size(p)
    return build("DSA public key", lambda: _dsa_public_numbers(p, q, g, y).public_key())


def dsa_private(public: dsa.DSAPublicKey, x: int) -> dsa.DSAPrivateKey:
    numbers = public.public_numbers()
    return build("DSA private key", lambda: dsa.DSAPrivateNumbers(x, numbers).private_key())


def ecdsa_private(public: ec.EllipticCurvePublicKey, d: int) -> ec.EllipticCurvePrivateKey:
    if d <= 0 or d.bit_length() > public.curve.key_size + 8:
        raise KeyFormatError("the ECDSA private value is out of range")
    key = build("ECDSA private key", lambda: ec.derive_private_key(d, public.curve))
    _check_public_matches(key, public)
    return key


def eddsa_private(
    public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, seed: bytes
) -> ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey:
    key: ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
    if isinstance(public, ed25519.Ed25519PublicKey):
        key = build(
            "Ed25519 private key", lambda: ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        )
    else:
        key = build("Ed448 private key", lambda: ed448.Ed448PrivateKey.from_private_bytes(seed))
    _check_public_matches(key, public)
    return key


def _check_public_matches(private: SshPrivateKey, public: SshPublicKey) -> None:
    if encode_public_blob(private.public_key()) != encode_public_blob(public):
        raise KeyFormatError(
            "the private key does not belong to the public key stored with it",
            cause="derived public key differs from the stored one",
        )


# ---- OpenSSH private key fields (PROTOCOL.key, sshkey_private_serialize) --------------


def read_openssh_private(reader: WireReader) -> SshPrivateKey:
    """Read ``string type`` and the private fields of one key in OpenSSH's private section."""
    key_type = reader.text()
    if key_type == SSH_RSA:
        n, e, d, _iqmp, p, q = (reader.mpint() for _ in range(6))
        return rsa_private(n, e, d, p, q)
    if key_type == SSH_DSS:
        p, q, g, y, x = (reader.mpint() for _ in range(5))
        return dsa_private(dsa_public(p, q, g, y), x)
    if key_type.startswith(ECDSA_PREFIX):
        ec_public = read_public_fields(reader, key_type)
        assert isinstance(ec_public, ec.EllipticCurvePublicKey)
        return ecdsa_private(ec_public, reader.mpint())
    if key_type == SSH_ED25519:
        public_raw = reader.string()
        secret = reader.string()  # seed || public, 64 bytes
        if len(secret) != 64 or secret[32:] != public_raw:
            raise KeyFormatError("the Ed25519 private key is damaged")
        ed_public = build(
            "Ed25519 key", lambda: ed25519.Ed25519PublicKey.from_public_bytes(public_raw)
        )
        return eddsa_private(ed_public, secret[:32])
    raise unsupported_type(key_type)


def write_openssh_private(key: SshPrivateKey, out: WireWriter) -> None:
    out.string(ssh_key_type(key))
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        public = numbers.public_numbers
        for value in (public.n, public.e, numbers.d, numbers.iqmp, numbers.p, numbers.q):
            out.mpint(value)
    elif isinstance(key, dsa.DSAPrivateKey):
        dsa_numbers = key.private_numbers()
        params = dsa_numbers.public_numbers.parameter_numbers
        for value in (params.p, params.q, params.g, dsa_numbers.public_numbers.y, dsa_numbers.x):
            out.mpint(value)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        out.string(str(curve_name(key))).string(_ec_point(key.public_key()))
        out.mpint(key.private_numbers().private_value)
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        public_raw = _raw_public(key.public_key())
        seed = key.private_bytes_raw()
        out.string(public_raw).string(seed + public_raw)
    else:
        raise KeyFormatError("OpenSSH has no Ed448 keys: use the ppk or pkcs8 format")


# ---- PuTTY private blobs (sshpubk.c / sshrsa.c / sshecc.c / sshdss.c) -----------------


def read_ppk_private(public: SshPublicKey, blob: bytes) -> SshPrivateKey:
    reader = WireReader(blob, what="private key")
    key: SshPrivateKey
    if isinstance(public, rsa.RSAPublicKey):
        d, p, q, _iqmp = (reader.mpint() for _ in range(4))
        numbers = public.public_numbers()
        key = rsa_private(numbers.n, numbers.e, d, p, q)
    elif isinstance(public, dsa.DSAPublicKey):
        key = dsa_private(public, reader.mpint())
    elif isinstance(public, ec.EllipticCurvePublicKey):
        key = ecdsa_private(public, reader.mpint())
    else:
        # PuTTY stores the EdDSA secret as a little-endian integer of the field's width,
        # which is byte for byte the RFC 8032 seed.
        key = eddsa_private(public, reader.string())
    # What follows is the padding PuTTY adds before encrypting; the MAC covers it.
    return key


def write_ppk_private(key: SshPrivateKey) -> bytes:
    out = WireWriter()
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        # PuTTY keeps p > q (and iqmp = q^-1 mod p); do the same so the bytes match.
        p, q = max(numbers.p, numbers.q), min(numbers.p, numbers.q)
        out.mpint(numbers.d).mpint(p).mpint(q).mpint(rsa.rsa_crt_iqmp(p, q))
    elif isinstance(key, dsa.DSAPrivateKey):
        out.mpint(key.private_numbers().x)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        out.mpint(key.private_numbers().private_value)
    else:
        out.string(key.private_bytes_raw())
    return out.getvalue()
