"""KRL export and import: the revocation table as an OpenSSH KRL, and back.

Export (``gitward krl export [--ca FP] -o FILE``) writes what ``ssh-keygen -Q`` and
sshd's ``RevokedKeys`` enforce: serial ranges and key ids per CA (key ids revoked under
every CA go into the any-CA section), revoked keys as explicit keys when their key is
known, else as SHA-256 (or imported SHA-1) hashes; a revoked certificate as ssh-keygen
records it (its serial under its CA, or its key id when the serial is 0). With ``--ca``,
only that CA's sections plus the CA-independent ones. A serial or key id revoked under a
CA whose public key we never saw (only its fingerprint) cannot be written: a KRL names
CAs by key, so those rows are counted and reported as skipped.

Import (``gitward krl import FILE``, e.g. one made by ``ssh-keygen -k``) decodes the whole
file first (ca/krl.py refuses anything unreadable or damaged) and stores every entry in
one transaction, so a refused KRL changes nothing. Entries for CAs not registered here are
imported anyway, keyed by the CA's fingerprint: a CA registered later is bound by them at
once, and a KRL describing several CAs need not be split. Serials revoked under "any CA"
(which ssh-keygen itself does not write) are refused, since a serial means nothing
without its CA.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass

from gitward.ca.certificate import parse_certificate_line
from gitward.ca.krl import CertSection, Krl, decode_krl, encode_krl
from gitward.errors import CertificateError, InvalidInput
from gitward.keys.algorithms import decode_public_blob, encode_public_blob, ssh_key_type
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.services.context import Context
from gitward.services.revocation import add_revocations, sha1_fingerprint
from gitward.store.db import transaction
from gitward.store.models import Revocation, RevocationKind
from gitward.store.queries import keys
from gitward.store.queries import revocations as queries

MAX_KEY_ID = 1024


@dataclass(frozen=True)
class ExportResult:
    data: bytes
    entries: int
    skipped: int  # rows whose CA key is unknown (only its fingerprint)


@dataclass(frozen=True)
class ImportResult:
    added: int
    already: int
    unregistered_cas: tuple[str, ...]


def _line(blob: bytes) -> str:
    return f"{ssh_key_type(decode_public_blob(blob))} {base64.b64encode(blob).decode()}"


def _blob(line: str | None) -> bytes | None:
    if not line:
        return None
    return base64.b64decode(line.split()[1])


def export_krl(ctx: Context, ca_fingerprint: str | None = None) -> ExportResult:
    with transaction(ctx.engine) as session:
        rows = queries.all_revocations(session, ca_fingerprint)
        known_cas = {ca.fingerprint: ca.public_key for ca in keys.list_cas(session)}
        now = int(ctx.now().timestamp())
    per_ca: dict[bytes | None, tuple[list[tuple[int, int]], set[str]]] = defaultdict(
        lambda: ([], set())
    )
    explicit: set[bytes] = set()
    sha1: set[bytes] = set()
    sha256: set[bytes] = set()
    skipped = entries = 0
    for row in rows:
        if row.kind is RevocationKind.KEY:
            entries += 1
            blob = _blob(row.public_key)
            if blob is not None:
                explicit.add(blob)
            elif row.fingerprint and row.fingerprint.startswith("SHA1:"):
                sha1.add(_digest(row.fingerprint))
            elif row.fingerprint:
                sha256.add(_digest(row.fingerprint))
            continue
        if row.kind is RevocationKind.CERTIFICATE:
            cert = parse_certificate_line(row.public_key or "")
            ca_blob: bytes | None = cert.signature_key
            serial, key_id = cert.serial, cert.key_id
        else:
            ca_blob = None
            if row.ca_fingerprint is not None:
                ca_blob = _blob(row.public_key) or _blob(known_cas.get(row.ca_fingerprint))
                if ca_blob is None:
                    skipped += 1
                    continue
            serial = row.serial_min or 0
            key_id = row.key_id or ""
        entries += 1
        ranges, ids = per_ca[ca_blob]
        if row.kind is RevocationKind.SERIAL:
            assert row.serial_min is not None and row.serial_max is not None
            ranges.append((row.serial_min, row.serial_max))
        elif row.kind is RevocationKind.CERTIFICATE and serial:
            ranges.append((serial, serial))
        else:
            ids.add(key_id)
    krl = Krl(
        version=now,
        generated_date=now,
        comment=f"gitward {ctx.settings.hostname}",
        cert_sections=tuple(
            CertSection(ca, tuple(ranges), tuple(sorted(ids)))
            for ca, (ranges, ids) in per_ca.items()
        ),
        revoked_keys=tuple(sorted(explicit)),
        revoked_sha1=tuple(sorted(sha1)),
        revoked_sha256=tuple(sorted(sha256)),
    )
    return ExportResult(encode_krl(krl), entries, skipped)


def _digest(fingerprint: str) -> bytes:
    encoded = fingerprint.split(":", 1)[1]
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def import_krl(ctx: Context, data: bytes, *, source: str = "") -> ImportResult:
    try:
        krl = decode_krl(data)
    except CertificateError as exc:
        raise InvalidInput(f"{exc.message}; nothing was imported", cause=exc.cause) from exc
    now = ctx.now()
    reason = f"krl import {source}".strip()[:200]
    rows: list[Revocation] = []
    ca_fingerprints: set[str] = set()
    for section in krl.cert_sections:
        ca_fp = ca_line = None
        if section.ca_key is not None:
            ca_fp = sha256_fingerprint(section.ca_key)
            ca_line = _line(section.ca_key)
            ca_fingerprints.add(ca_fp)
        elif section.serials:
            raise InvalidInput(
                "the KRL revokes serials under any CA, which means nothing without a CA; "
                "nothing was imported"
            )
        for lo, hi in section.serials:
            rows.append(
                Revocation(
                    kind=RevocationKind.SERIAL,
                    ca_fingerprint=ca_fp,
                    serial_min=lo,
                    serial_max=hi,
                    public_key=ca_line,
                    reason=reason,
                    created_at=now,
                )
            )
        for key_id in section.key_ids:
            if len(key_id) > MAX_KEY_ID:
                raise InvalidInput(
                    f"the KRL revokes a key id longer than {MAX_KEY_ID} characters; "
                    "nothing was imported"
                )
            rows.append(
                Revocation(
                    kind=RevocationKind.KEY_ID,
                    ca_fingerprint=ca_fp,
                    key_id=key_id,
                    public_key=ca_line,
                    reason=reason,
                    created_at=now,
                )
            )
    for blob in krl.revoked_keys:
        canonical = encode_public_blob(decode_public_blob(blob))
        rows.append(
            Revocation(
                kind=RevocationKind.KEY,
                fingerprint=sha256_fingerprint(canonical),
                public_key=_line(canonical),
                reason=reason,
                created_at=now,
            )
        )
    for digest in krl.revoked_sha256:
        rows.append(
            Revocation(
                kind=RevocationKind.KEY,
                fingerprint=f"SHA256:{_b64(digest)}",
                reason=reason,
                created_at=now,
            )
        )
    for digest in krl.revoked_sha1:
        rows.append(
            Revocation(
                kind=RevocationKind.KEY,
                fingerprint=f"SHA1:{_b64(digest)}",
                reason=reason,
                created_at=now,
            )
        )
    with transaction(ctx.engine) as session:
        added = add_revocations(
            session, ctx, rows, action="krl.import", what=f"{len(rows)} entries {source}".strip()
        )
        unregistered = tuple(
            sorted(fp for fp in ca_fingerprints if keys.ca_by_fingerprint(session, fp) is None)
        )
    return ImportResult(len(added), len(rows) - len(added), unregistered)


__all__ = ["ExportResult", "ImportResult", "export_krl", "import_krl", "sha1_fingerprint"]
