"""OpenSSH key revocation lists (PROTOCOL.krl): encode, strictly decode, and check.

Pure: bytes in, a frozen ``Krl`` out, and back. ``decode_krl`` raises CertificateError and
nothing else on any malformed input; the work it does is bounded by the input's size
(a serial bitmap is at most 2049 bytes, as OpenSSH's bignum limit, and is kept as ranges,
never expanded into one entry per serial).

Layout (all integers big-endian):

    uint64 magic "SSHKRL\\n\\0"   uint32 format version (1)
    uint64 krl version   uint64 generated date   uint64 flags
    string reserved      string comment
    then sections: byte type, string data
      1 certificates:  string CA key (empty = any CA), string reserved, then
                       subsections (byte type, string data):
                         0x20 serial list   uint64 serial ...
                         0x21 serial range  uint64 lo, uint64 hi
                         0x22 serial bitmap uint64 offset, mpint bitmap (bit i = offset+i)
                         0x23 key ids       string key id ...
      2 explicit keys: string key blob ...
      3 SHA-1 fingerprints, 5 SHA-256 fingerprints: string hash ...
      4 signature:     string signing key, string signature (only at the end)

Decoding follows OpenSSH 9.2's ``ssh_krl_from_blob`` where it is strict (serial 0 and
lo > hi refused, bitmap wrap refused, unknown section or subsection types refused, data
left over in a subsection refused, fingerprints of the wrong length refused) and is
stricter where it is not: trailing bytes are refused everywhere, key ids and the comment
must be UTF-8 without NUL, key blobs (CA keys, revoked keys) must at least start with a
printable type name.

Signatures: OpenSSH 9.2 checks a signature section's signature (without requiring any
particular key) and later versions dropped KRL signing. We keep the structure rules
(signatures only after every other section) but do not verify or keep them: a KRL's
authenticity comes from how it reached the server, not from a key inside it.

Decoded sections are normalised: one ``CertSection`` per CA (in first-seen order) with
sorted, merged serial ranges and sorted unique key ids; keys and hashes sorted unique.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gitward.ca.certificate import Certificate
from gitward.errors import CertificateError, KeyFormatError
from gitward.keys.wire import WireReader, WireWriter

KRL_MAGIC: Final = b"SSHKRL\n\0"
KRL_FORMAT_VERSION: Final = 1

SECTION_CERTIFICATES: Final = 1
SECTION_EXPLICIT_KEY: Final = 2
SECTION_FINGERPRINT_SHA1: Final = 3
SECTION_SIGNATURE: Final = 4
SECTION_FINGERPRINT_SHA256: Final = 5

CERT_SERIAL_LIST: Final = 0x20
CERT_SERIAL_RANGE: Final = 0x21
CERT_SERIAL_BITMAP: Final = 0x22
CERT_KEY_ID: Final = 0x23

MAX_SERIAL: Final = 2**64 - 1
MAX_KRL_SIZE: Final = 64 * 1024 * 1024
_MAX_BITMAP_BYTES: Final = 2048 + 1  # SSHBUF_MAX_BIGNUM plus a sign byte
_HASH_SIZES: Final = {SECTION_FINGERPRINT_SHA1: 20, SECTION_FINGERPRINT_SHA256: 32}

SerialRange = tuple[int, int]  # inclusive, 1 <= lo <= hi < 2**64


@dataclass(frozen=True)
class CertSection:
    """Certificates revoked for one CA (``ca_key`` None: signed by any CA)."""

    ca_key: bytes | None
    serials: tuple[SerialRange, ...] = ()
    key_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Krl:
    version: int = 0
    generated_date: int = 0
    comment: str = ""
    cert_sections: tuple[CertSection, ...] = ()
    revoked_keys: tuple[bytes, ...] = ()  # plain public key blobs
    revoked_sha1: tuple[bytes, ...] = ()  # SHA-1 of plain key blobs (20 bytes each)
    revoked_sha256: tuple[bytes, ...] = ()  # SHA-256 of plain key blobs (32 bytes each)


# --- encoding -------------------------------------------------------------------------


def encode_krl(krl: Krl) -> bytes:
    """The binary KRL that ``ssh-keygen -Q`` and sshd's ``RevokedKeys`` read."""
    _check_u64(krl.version, "KRL version")
    _check_u64(krl.generated_date, "KRL date")
    if "\0" in krl.comment:
        raise CertificateError("the KRL comment contains a NUL byte")
    out = WireWriter().raw(KRL_MAGIC).uint32(KRL_FORMAT_VERSION)
    out.uint64(krl.version).uint64(krl.generated_date).uint64(0)
    out.string(b"").string(krl.comment)
    for section in krl.cert_sections:
        out.byte(SECTION_CERTIFICATES).string(_encode_cert_section(section))
    for kind, items in (
        (SECTION_EXPLICIT_KEY, krl.revoked_keys),
        (SECTION_FINGERPRINT_SHA1, krl.revoked_sha1),
        (SECTION_FINGERPRINT_SHA256, krl.revoked_sha256),
    ):
        if items:
            out.byte(kind).string(_encode_blobs(kind, items))
    return out.getvalue()


def _check_u64(value: int, what: str) -> None:
    if not 0 <= value <= MAX_SERIAL:
        raise CertificateError(f"the {what} does not fit in 64 bits")


def _encode_cert_section(section: CertSection) -> bytes:
    out = WireWriter()
    if section.ca_key is not None:
        _check_key_blob(section.ca_key, "CA key")
    out.string(section.ca_key or b"").string(b"")
    singles: list[int] = []
    for lo, hi in _merge(section.serials, strict=True):
        if lo == hi:
            singles.append(lo)
        else:
            out.byte(CERT_SERIAL_RANGE).string(WireWriter().uint64(lo).uint64(hi).getvalue())
    if singles:
        serial_list = WireWriter()
        for serial in singles:
            serial_list.uint64(serial)
        out.byte(CERT_SERIAL_LIST).string(serial_list.getvalue())
    if section.key_ids:
        ids = WireWriter()
        for key_id in sorted(set(section.key_ids)):
            if not key_id or "\0" in key_id:
                raise CertificateError("a revoked key id is empty or contains a NUL byte")
            ids.string(key_id)
        out.byte(CERT_KEY_ID).string(ids.getvalue())
    return out.getvalue()


def _encode_blobs(kind: int, items: Iterable[bytes]) -> bytes:
    out = WireWriter()
    for item in sorted(set(items)):
        size = _HASH_SIZES.get(kind)
        if size is not None and len(item) != size:
            raise CertificateError(f"a revoked fingerprint is not {size} bytes long")
        if kind == SECTION_EXPLICIT_KEY:
            _check_key_blob(item, "revoked key")
        out.string(item)
    return out.getvalue()


def _check_key_blob(blob: bytes, what: str) -> None:
    """A key blob must start with its type name; the rest stays opaque.

    Not parsed further on purpose: a KRL that revokes a key type we do not read (a FIDO
    sk-* key, say) must still load, or one such entry would disable every revocation.
    Entries are matched by exact bytes, as OpenSSH matches them.
    """
    try:
        name = WireReader(blob, what=what).string()
    except KeyFormatError as exc:
        raise CertificateError(f"the KRL's {what} is damaged", cause=exc.cause) from exc
    if not name or any(not 0x21 <= byte <= 0x7E for byte in name):
        raise CertificateError(f"the KRL's {what} is damaged", cause=f"key type {name!r}")


def _merge(ranges: Iterable[SerialRange], *, strict: bool) -> list[SerialRange]:
    """Sorted, coalesced ranges; ``strict`` refuses serial 0 and lo > hi."""
    ordered = sorted(ranges)
    for lo, hi in ordered:
        if strict and not 1 <= lo <= hi <= MAX_SERIAL:
            raise CertificateError(
                f"invalid revoked serial range {lo}-{hi}: serials run from 1 to 2**64-1"
            )
    merged: list[SerialRange] = []
    for lo, hi in ordered:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


# --- decoding -------------------------------------------------------------------------


def decode_krl(data: bytes) -> Krl:
    """Parse a binary KRL; CertificateError on anything malformed or unknown."""
    if len(data) > MAX_KRL_SIZE:
        raise CertificateError("the KRL is too large", cause=f"{len(data)} bytes")
    try:
        return _decode(bytes(data))
    except KeyFormatError as exc:  # the wire reader's truncation and trailing-byte errors
        raise CertificateError("the KRL is damaged", cause=exc.cause) from exc


def _damaged(cause: str) -> CertificateError:
    return CertificateError("the KRL is damaged", cause=cause)


def _decode(data: bytes) -> Krl:
    reader = WireReader(data, what="KRL")
    if len(data) < len(KRL_MAGIC) or reader.raw(len(KRL_MAGIC)) != KRL_MAGIC:
        raise CertificateError("this is not an OpenSSH KRL (bad magic)")
    format_version = reader.uint32()
    if format_version != KRL_FORMAT_VERSION:
        raise CertificateError(
            "this KRL format version is not supported", cause=f"version {format_version}"
        )
    version, generated, _flags = reader.uint64(), reader.uint64(), reader.uint64()
    reader.string()  # reserved
    comment = _text(reader.string(), "comment")
    per_ca: dict[bytes | None, tuple[list[SerialRange], set[str]]] = {}
    keys: set[bytes] = set()
    hashes: dict[int, set[bytes]] = {kind: set() for kind in _HASH_SIZES}
    seen_signature = False
    while reader.remaining:
        kind = reader.byte()
        section = WireReader(reader.string(), what="KRL section")
        if kind == SECTION_SIGNATURE:
            seen_signature = True
            section.string()  # signing key
            section.string()  # signature
        elif seen_signature:
            raise _damaged(f"section {kind} after a signature")
        elif kind == SECTION_CERTIFICATES:
            _decode_cert_section(section, per_ca)
        elif kind == SECTION_EXPLICIT_KEY:
            while section.remaining:
                blob = section.string()
                _check_key_blob(blob, "revoked key")
                keys.add(blob)
        elif kind in _HASH_SIZES:
            while section.remaining:
                digest = section.string()
                if len(digest) != _HASH_SIZES[kind]:
                    raise _damaged(f"fingerprint of {len(digest)} bytes in section {kind}")
                hashes[kind].add(digest)
        else:
            raise CertificateError("the KRL has a section of unknown type", cause=f"type {kind}")
        section.expect_end()
    return Krl(
        version=version,
        generated_date=generated,
        comment=comment,
        cert_sections=tuple(
            CertSection(ca, tuple(_merge(ranges, strict=False)), tuple(sorted(ids)))
            for ca, (ranges, ids) in per_ca.items()
        ),
        revoked_keys=tuple(sorted(keys)),
        revoked_sha1=tuple(sorted(hashes[SECTION_FINGERPRINT_SHA1])),
        revoked_sha256=tuple(sorted(hashes[SECTION_FINGERPRINT_SHA256])),
    )


def _text(raw: bytes, what: str) -> str:
    if b"\0" in raw:
        raise _damaged(f"NUL byte in {what}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(f"{what} is not UTF-8") from exc


def _decode_cert_section(
    section: WireReader, per_ca: dict[bytes | None, tuple[list[SerialRange], set[str]]]
) -> None:
    ca_blob = section.string()
    section.string()  # reserved
    if ca_blob:
        _check_key_blob(ca_blob, "CA key")
    ranges, ids = per_ca.setdefault(ca_blob or None, ([], set()))
    while section.remaining:
        kind = section.byte()
        sub = WireReader(section.string(), what="KRL certificate section")
        if kind == CERT_SERIAL_LIST:
            while sub.remaining:
                serial = _serial(sub.uint64())
                ranges.append((serial, serial))
        elif kind == CERT_SERIAL_RANGE:
            lo, hi = _serial(sub.uint64()), _serial(sub.uint64())
            if lo > hi:
                raise _damaged(f"serial range {lo}-{hi} is reversed")
            ranges.append((lo, hi))
        elif kind == CERT_SERIAL_BITMAP:
            ranges += _bitmap_ranges(sub.uint64(), sub.string())
        elif kind == CERT_KEY_ID:
            while sub.remaining:
                key_id = _text(sub.string(), "key id")
                ids.add(key_id)
        else:
            raise CertificateError(
                "the KRL has a certificate section of unknown type", cause=f"type {kind:#x}"
            )
        sub.expect_end()


def _serial(value: int) -> int:
    if value == 0:
        raise _damaged("serial 0 cannot be revoked")
    return value


def _bitmap_ranges(offset: int, raw: bytes) -> list[SerialRange]:
    """Runs of set bits of the mpint ``raw`` as serial ranges (bit i = offset + i)."""
    if raw and raw[0] & 0x80:
        raise _damaged("negative serial bitmap")
    if len(raw) > _MAX_BITMAP_BYTES or (len(raw) == _MAX_BITMAP_BYTES and raw[0] != 0):
        raise _damaged("serial bitmap too large")
    bits = int.from_bytes(raw, "big")
    found: list[SerialRange] = []
    index = 0
    while bits:
        if bits & 1:
            run = (~bits & (bits + 1)).bit_length() - 1  # length of the run of ones
            lo, hi = offset + index, offset + index + run - 1
            if lo == 0:
                raise _damaged("serial 0 cannot be revoked")
            if hi > MAX_SERIAL:
                raise _damaged("serial bitmap wraps past 2**64")
            found.append((lo, hi))
            bits >>= run
            index += run
        else:
            skip = (bits & -bits).bit_length() - 1  # trailing zeros
            bits >>= skip
            index += skip
    return found


# --- checking -------------------------------------------------------------------------


def is_revoked(krl: Krl, subject: Certificate | bytes) -> bool:
    """Whether ``subject`` (a certificate, or a plain public key blob) is revoked.

    As OpenSSH's ``ssh_krl_check_key``: a certificate is revoked when its subject key is,
    when its CA's section (or the any-CA section) names its key id or serial (serial 0
    is never revoked by serial), or when its CA key itself is revoked.
    """
    if isinstance(subject, bytes):
        return _key_revoked(krl, subject)
    if _key_revoked(krl, subject.public_key):
        return True
    for section in krl.cert_sections:
        if section.ca_key is not None and section.ca_key != subject.signature_key:
            continue
        if subject.key_id in section.key_ids:
            return True
        if subject.serial and any(lo <= subject.serial <= hi for lo, hi in section.serials):
            return True
    return _key_revoked(krl, subject.signature_key)


def _key_revoked(krl: Krl, blob: bytes) -> bool:
    return (
        hashlib.sha1(blob).digest() in krl.revoked_sha1
        or hashlib.sha256(blob).digest() in krl.revoked_sha256
        or blob in krl.revoked_keys
    )
