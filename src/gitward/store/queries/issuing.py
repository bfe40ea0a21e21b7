"""The issuing API's hot path in SQLAlchemy Core: one query for everything a request needs
to know, and batched writes for a group of certificates (services/group_commit.py).

No ORM objects here: each request reads one row per candidate organization and writes its
share of three multi-row statements, whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)

from gitward.store.models import (
    AccessToken,
    AuditEvent,
    CertificateAuthority,
    IssuedCertificate,
    ManagedCAKey,
    Membership,
    Organization,
    Revocation,
    RevocationKind,
    User,
)


@dataclass(frozen=True)
class IssuingFacts:
    """One candidate organization for a request (or none: org_id is None), with the
    caller's token and user and the CA that would sign."""

    token_id: int | None
    token_hash: str | None
    token_scopes: str
    token_expires_at: dt.datetime | None
    token_revoked_at: dt.datetime | None
    user_id: int
    username: str
    user_suspended: bool
    org_id: int | None
    org_name: str | None
    org_max_lifetime: int | None
    ca_id: int | None
    ca_fingerprint: str | None
    ca_retired_at: dt.datetime | None
    managed_key_created_at: dt.datetime | None
    key_revoked: bool
    ca_revoked: bool


def _newest_ca(owner: Any) -> Any:
    """The id of the owner's newest managed CA not retired at ``:now`` (a scalar subquery)."""
    ca = CertificateAuthority.__table__.alias()
    mk = ManagedCAKey.__table__.alias()
    now = bindparam("now", type_=ca.c.retired_at.type)
    return (
        select(ca.c.id)
        .join(mk, mk.c.ca_id == ca.c.id)
        .where(owner(ca), or_(ca.c.retired_at.is_(None), ca.c.retired_at > now))
        .order_by(ca.c.created_at.desc(), ca.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


@functools.cache
def _facts_query(by_token: bool, named: bool) -> Any:
    """Built once per variant (building a statement costs more than running it); the
    values are bound at each execution: :token_hash or :user_id, :org_name, :fp1, :fp2,
    :now."""
    t = AccessToken.__table__
    u = User.__table__
    m = Membership.__table__
    o = Organization.__table__
    ca = CertificateAuthority.__table__
    mk = ManagedCAKey.__table__
    r = Revocation.__table__

    member_on = m.c.user_id == u.c.id
    if named:
        member_on = and_(
            member_on,
            m.c.organization_id.in_(
                select(o.c.id).where(func.lower(o.c.name) == func.lower(bindparam("org_name")))
            ),
        )
    org_ca = _newest_ca(lambda c: c.c.organization_id == o.c.id)
    enterprise_ca = _newest_ca(lambda c: c.c.enterprise_id == o.c.enterprise_id)
    key_revoked = exists().where(
        r.c.kind == RevocationKind.KEY,
        r.c.fingerprint.in_([bindparam("fp1"), bindparam("fp2")]),
    )
    ca_revoked = exists().where(r.c.kind == RevocationKind.KEY, r.c.fingerprint == ca.c.fingerprint)
    if by_token:
        base: Any = t.join(u, u.c.id == t.c.user_id)
        token_cols: list[Any] = [t.c.id, t.c.token_hash, t.c.scopes, t.c.expires_at, t.c.revoked_at]
        where = t.c.token_hash == bindparam("token_hash")
    else:
        base = u
        token_cols = [null(), null(), literal(""), null(), null()]
        where = u.c.id == bindparam("user_id")
    return (
        select(
            *token_cols,
            u.c.id,
            u.c.username,
            u.c.suspended,
            o.c.id,
            o.c.name,
            o.c.certificate_max_lifetime,
            ca.c.id,
            ca.c.fingerprint,
            ca.c.retired_at,
            mk.c.created_at,
            key_revoked,
            ca_revoked,
        )
        .select_from(
            base.outerjoin(m, member_on)
            .outerjoin(o, o.c.id == m.c.organization_id)
            .outerjoin(ca, ca.c.id == func.coalesce(org_ca, enterprise_ca))
            .outerjoin(mk, mk.c.ca_id == ca.c.id)
        )
        .where(where)
        .order_by(o.c.name)
    )


def issuing_facts(
    conn: Connection,
    *,
    token_hash: str | None = None,
    user_id: int | None = None,
    organization: str | None,
    key_fingerprints: Sequence[str],
    now: dt.datetime,
) -> list[IssuingFacts]:
    """Everything one issuing request needs, in one statement: the token (by its hash) or
    the user (by id), and for each organization of the user (only the one named, if
    ``organization`` is given; matched case-insensitively) its lifetime cap and the CA that
    signs for it now (the organization's newest managed CA not retired, else its
    enterprise's), whether that CA's key is revoked, and whether any of
    ``key_fingerprints`` (the subject key's SHA256 and SHA1 forms) is revoked.

    No row: unknown token or user. One row with org_id None: the user is a member of no
    (such) organization. A CA removed or retired is simply not found: nothing is cached
    across requests that could outlive it."""
    fps = [*key_fingerprints, "", ""][:2]
    params: dict[str, Any] = {"fp1": fps[0], "fp2": fps[1], "now": now}
    if token_hash is not None:
        params["token_hash"] = token_hash
    else:
        params["user_id"] = user_id
    if organization is not None:
        params["org_name"] = organization
    query = _facts_query(token_hash is not None, organization is not None)
    return [
        IssuingFacts(
            token_id=row[0],
            token_hash=row[1],
            token_scopes=row[2] or "",
            token_expires_at=row[3],
            token_revoked_at=row[4],
            user_id=row[5],
            username=row[6],
            user_suspended=bool(row[7]),
            org_id=row[8],
            org_name=row[9],
            org_max_lifetime=row[10],
            ca_id=row[11],
            ca_fingerprint=row[12],
            ca_retired_at=row[13],
            managed_key_created_at=row[14],
            key_revoked=bool(row[15]),
            ca_revoked=bool(row[16]) if row[11] is not None else False,
        )
        for row in conn.execute(query, params)
    ]


def managed_key(conn: Connection, ca_id: int) -> tuple[str, str] | None:
    """(sealed private key, CA fingerprint) of a managed CA, to open once per process."""
    row = conn.execute(
        select(ManagedCAKey.__table__.c.encrypted_key, CertificateAuthority.__table__.c.fingerprint)
        .join(
            CertificateAuthority.__table__,
            CertificateAuthority.__table__.c.id == ManagedCAKey.__table__.c.ca_id,
        )
        .where(ManagedCAKey.__table__.c.ca_id == ca_id)
    ).first()
    return None if row is None else (row[0], row[1])


def allocate_ids(conn: Connection, count: int) -> list[int] | None:
    """On PostgreSQL, ``count`` ids for inventory rows from the table's own sequence (the
    serials, known before signing, so each row is inserted once, complete); None on
    SQLite, which has no sequence: there the ids come from ``insert_placeholders``."""
    if conn.dialect.name != "postgresql":
        return None
    rows = conn.execute(_allocate_ids(), {"count": count})
    return [int(row[0]) for row in rows]


def insert_certificates(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert complete inventory rows (ids from ``allocate_ids``), one statement."""
    conn.execute(_insert_certificates(), list(rows))


def insert_placeholders(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert inventory rows (without serial and certificate yet) in one statement; their
    ids, in the order given, are the serials."""
    result = conn.execute(_insert_placeholders(), list(rows))
    return [int(row[0]) for row in result]


def fill_certificates(conn: Connection, fills: Sequence[Mapping[str, Any]]) -> None:
    """Set serial, key id, options, certificate and fingerprint of rows just inserted
    (each mapping: row_id plus those columns), one executemany."""
    conn.execute(_fill_certificates(), list(fills))


def append_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Audit events in one statement (each mapping: the columns of AuditEvent)."""
    conn.execute(_append_events(), list(events))


@functools.cache
def _allocate_ids() -> Any:
    from sqlalchemy import text

    return text(
        "SELECT nextval(pg_get_serial_sequence('issued_certificates', 'id')) "
        "FROM generate_series(1, :count)"
    )


@functools.cache
def _insert_certificates() -> Any:
    return insert(cast(Table, IssuedCertificate.__table__))


@functools.cache
def _insert_placeholders() -> Any:
    table = cast(Table, IssuedCertificate.__table__)
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@functools.cache
def _fill_certificates() -> Any:
    table = cast(Table, IssuedCertificate.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            serial=bindparam("serial"),
            key_id=bindparam("key_id"),
            critical_options=bindparam("critical_options"),
            extensions=bindparam("extensions"),
            certificate=bindparam("certificate"),
            certificate_fingerprint=bindparam("certificate_fingerprint"),
        )
    )


@functools.cache
def _append_events() -> Any:
    return insert(cast(Table, AuditEvent.__table__))
