"""Revocation: what `gitward cert revoke` records and what the SSH server asks on every
connection.

For the connection path (called inside the server's own transaction, one certificate or
key at a time; each question is one indexed query, never a table scan):

    revocation_facts_for(session, cert, ca_id) -> RevocationFacts   for access.identity
    key_revoked(session, fingerprint) -> bool                         a plain key
    ca_revoked(session, ca_id_or_fingerprint) -> bool                 a CA's own key

Meanings (ARCHITECTURE, "Revocation"):

- ``--serial N --ca FP``: that serial under that CA (a KRL may also revoke ranges).
- ``--key-id ID [--ca FP]``: that key id under one CA, or under every CA.
- ``--key FILE`` with a public key: the key itself, as a plain key, as the subject of any
  certificate, and as a CA (a revoked key signs nothing we accept, as in an OpenSSH KRL).
  Given a registered CA's public key this is how a CA is revoked.
- ``--key FILE`` with a certificate: that certificate (by its own fingerprint, and by its
  serial under its CA, or its key id when the serial is 0, which is what ``ssh-keygen -k``
  records for it, so a KRL export carries it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from gitward.access.facts import RevocationFacts
from gitward.ca.certificate import CERT_SUFFIX, Certificate, parse_certificate_line
from gitward.errors import CertificateError, InvalidInput
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.services.context import Check, Context
from gitward.services.views import View
from gitward.store.db import Session, transaction
from gitward.store.models import CertificateAuthority, Revocation, RevocationKind
from gitward.store.queries import keys
from gitward.store.queries import revocations as queries

MAX_SERIAL = 2**64 - 1


def sha1_fingerprint(blob: bytes) -> str:
    """The SHA-1 form a KRL may hold (only ever compared, never shown as a recommendation)."""
    digest = hashlib.sha1(blob, usedforsecurity=False).digest()
    return "SHA1:" + base64.b64encode(digest).decode("ascii").rstrip("=")


# --- what the SSH server calls ---------------------------------------------------------


def revocation_facts_for(session: Session, cert: Certificate, ca_id: int) -> RevocationFacts:
    """The revocations that apply to ``cert`` signed by the registered CA ``ca_id``."""
    ca = session.get(CertificateAuthority, ca_id)
    ca_fingerprint = ca.fingerprint if ca is not None else cert.signature_key_fingerprint
    key_fps = {cert.public_key_fingerprint, sha1_fingerprint(cert.public_key)}
    rows = queries.matching_certificate(
        session,
        ca_fingerprint=ca_fingerprint,
        serial=cert.serial,
        key_id=cert.key_id,
        key_fingerprints=key_fps,
        certificate_fingerprint=cert.fingerprint,
    )
    if not rows:
        return RevocationFacts()
    serials: set[int] = set()
    key_ids: set[str] = set()
    keys_: set[str] = set()
    certs: set[str] = set()
    for row in rows:
        if row.kind is RevocationKind.SERIAL:
            serials.add(cert.serial)
        elif row.kind is RevocationKind.KEY_ID:
            key_ids.add(cert.key_id)
        elif row.kind is RevocationKind.KEY:
            keys_.add(cert.public_key_fingerprint)  # a SHA1: row matched the same key
        elif row.fingerprint == cert.fingerprint:
            certs.add(cert.fingerprint)
    return RevocationFacts(
        certificate_fingerprints=frozenset(certs),
        key_fingerprints=frozenset(keys_),
        key_ids=frozenset(key_ids),
        serials=frozenset(serials),
    )


def key_revoked(session: Session, fingerprint: str, blob: bytes | None = None) -> bool:
    """Whether the plain key with this SHA256 fingerprint is revoked. Pass its ``blob`` too
    to also match KRL-imported SHA-1 hashes."""
    fingerprints = [fingerprint] + ([sha1_fingerprint(blob)] if blob is not None else [])
    return queries.key_revoked(session, fingerprints)


def revoked_key_fingerprints(session: Session, fingerprints: Sequence[str]) -> set[str]:
    """Which of these key fingerprints are revoked (one query for several keys)."""
    return queries.revoked_fingerprints(session, fingerprints)


def ca_revoked(session: Session, ca: int | str) -> bool:
    """Whether a CA (by id or SHA256 fingerprint) has had its own key revoked."""
    if isinstance(ca, int):
        row = session.get(CertificateAuthority, ca)
        if row is None:
            return True  # removed: trusts nothing
        return queries.key_revoked(
            session, [row.fingerprint, sha1_fingerprint(_blob_of(row.public_key))]
        )
    return queries.key_revoked(session, [ca])


def _blob_of(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


# --- what the CLI calls ----------------------------------------------------------------


@dataclass(frozen=True)
class RevocationView(View):
    id: int
    kind: str
    ca_fingerprint: str | None
    serial_min: int | None
    serial_max: int | None
    key_id: str | None
    fingerprint: str | None
    reason: str
    description: str

    @classmethod
    def of(cls, row: Revocation, description: str = "") -> RevocationView:
        return cls(
            row.id,
            row.kind.value,
            row.ca_fingerprint,
            row.serial_min,
            row.serial_max,
            row.key_id,
            row.fingerprint,
            row.reason,
            description or describe(row),
        )


def describe(row: Revocation) -> str:
    if row.kind is RevocationKind.SERIAL:
        serials = (
            f"serial {row.serial_min}"
            if row.serial_min == row.serial_max
            else f"serials {row.serial_min}-{row.serial_max}"
        )
        return f"{serials} of CA {row.ca_fingerprint}"
    if row.kind is RevocationKind.KEY_ID:
        where = f"CA {row.ca_fingerprint}" if row.ca_fingerprint else "every CA"
        return f"key id {row.key_id!r} under {where}"
    if row.kind is RevocationKind.CERTIFICATE:
        return f"certificate {row.fingerprint}"
    return f"key {row.fingerprint}"


def add_revocations(
    session: Session, ctx: Context, rows: Sequence[Revocation], *, action: str, what: str
) -> list[Revocation]:
    """Insert the rows not already present; return those that are new."""
    added: list[Revocation] = []
    for row in rows:
        if queries.same_revocation(session, row) is None:
            session.add(row)
            added.append(row)
    session.flush()
    ctx.audit(session, action, what[:300], count=len(added))
    return added


def _check_fingerprint(fingerprint: str) -> str:
    text = fingerprint.strip()
    if not text.startswith("SHA256:") or len(text) != 50:
        raise InvalidInput(f"a CA fingerprint looks like SHA256:... (43 characters), not {text!r}")
    return text


def revoke_serial(
    ctx: Context,
    serial: int,
    ca_fingerprint: str,
    reason: str = "",
    check: Check | None = None,
) -> RevocationView:
    ca_fp = _check_fingerprint(ca_fingerprint)
    if not 1 <= serial <= MAX_SERIAL:
        raise InvalidInput(f"the serial must be between 1 and {MAX_SERIAL}")
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        ca = keys.ca_by_fingerprint(session, ca_fp)
        row = Revocation(
            kind=RevocationKind.SERIAL,
            ca_fingerprint=ca_fp,
            serial_min=serial,
            serial_max=serial,
            reason=reason,
            created_at=ctx.now(),
            public_key=ca.public_key if ca else None,
        )
        return _one(session, ctx, row, ca_known=ca is not None)


def revoke_key_id(
    ctx: Context,
    key_id: str,
    ca_fingerprint: str | None = None,
    reason: str = "",
    check: Check | None = None,
) -> RevocationView:
    if not key_id or len(key_id) > 1024:
        raise InvalidInput("the key id must be 1 to 1024 characters")
    ca_fp = _check_fingerprint(ca_fingerprint) if ca_fingerprint else None
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        ca = keys.ca_by_fingerprint(session, ca_fp) if ca_fp else None
        # public_key: the CA's key line, so a KRL export can name the CA (see services/krl).
        row = Revocation(
            kind=RevocationKind.KEY_ID,
            ca_fingerprint=ca_fp,
            key_id=key_id,
            reason=reason,
            created_at=ctx.now(),
            public_key=ca.public_key if ca else None,
        )
        return _one(session, ctx, row, ca_known=ca_fp is None or ca is not None)


def _one(session: Session, ctx: Context, row: Revocation, *, ca_known: bool) -> RevocationView:
    # An unknown CA is recorded anyway (it may be added later), but said, so a typo in the
    # fingerprint does not go unnoticed.
    description = describe(row) + ("" if ca_known else " (a CA not registered here)")
    existing = queries.same_revocation(session, row)
    if existing is not None:
        return RevocationView.of(existing, description + " (already revoked)")
    add_revocations(session, ctx, [row], action="cert.revoke", what=description)
    return RevocationView.of(row, description)


def revoke_key(ctx: Context, data: bytes, reason: str = "") -> RevocationView:
    """``--key FILE``: a public key (user key, any key, or a CA's key) or a certificate."""
    text = data.decode("utf-8", errors="replace").strip()
    first = text.split(None, 1)[0] if text else ""
    now = ctx.now()
    if first.endswith(CERT_SUFFIX):
        try:
            cert = parse_certificate_line(text.splitlines()[0])
        except CertificateError as exc:
            raise InvalidInput(exc.message, cause=exc.cause) from exc
        with transaction(ctx.engine) as session:
            return _one(session, ctx, _certificate_row(cert, reason, now), ca_known=True)
    key = validate_public_key_upload(data, KeyPurpose.CA)
    with transaction(ctx.engine) as session:
        row = Revocation(
            kind=RevocationKind.KEY,
            fingerprint=key.fingerprint,
            public_key=key.openssh_line,
            reason=reason,
            created_at=now,
        )
        ca = keys.ca_by_fingerprint(session, key.fingerprint)
        description = (
            f"certificate authority {key.fingerprint} ({ca.title})"
            if ca
            else f"key {key.fingerprint}"
        )
        existing = queries.same_revocation(session, row)
        if existing is not None:
            return RevocationView.of(existing, description + " (already revoked)")
        add_revocations(session, ctx, [row], action="cert.revoke", what=description)
        return RevocationView.of(row, description)


def _certificate_row(cert: Certificate, reason: str, now: object) -> Revocation:
    return Revocation(
        kind=RevocationKind.CERTIFICATE,
        fingerprint=cert.fingerprint,
        ca_fingerprint=cert.signature_key_fingerprint,
        serial_min=cert.serial or None,
        serial_max=cert.serial or None,
        key_id=cert.key_id,
        public_key=cert.to_line(),
        reason=reason,
        created_at=now,
    )


def list_revocations(ctx: Context) -> list[RevocationView]:
    with transaction(ctx.engine) as session:
        return [RevocationView.of(r) for r in queries.all_revocations(session)]


__all__ = [
    "ca_revoked",
    "key_revoked",
    "revocation_facts_for",
    "revoke_key",
    "revoke_key_id",
    "revoke_serial",
    "sha256_fingerprint",
]
