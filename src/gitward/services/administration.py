"""Site administration: users, "who holds this key?", the certificate inventory and its
revocation, the KRL, the audit trail. Site admins only; anyone else gets "not found"."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.services import accounts, krl, revocation, signin
from gitward.services.actor import Actor, require_site_admin, site_admin_check
from gitward.services.context import Context
from gitward.services.my_account import CertificateRow, certificate_page
from gitward.services.paging import Page, PageRequest
from gitward.services.views import KeyView, OrgView, UserView, View
from gitward.store.db import Session, transaction
from gitward.store.models import AuditEvent, Repository, SSHKey
from gitward.store.queries import accounts as account_queries
from gitward.store.queries import audit, certificates, keys, revocations
from gitward.store.queries.web import end_sessions_of

EXPORT_LIMIT: Final = 100_000  # rows in one CSV/JSON export of the audit trail


# --- users --------------------------------------------------------------------------------


def list_users(ctx: Context, actor: Actor) -> list[UserView]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        return [UserView.of(u) for u in account_queries.list_users(session)]


@dataclass(frozen=True)
class NewUser:
    user: UserView
    invitation_url: str  # the one-time link with which they set a password


def create_user(
    ctx: Context, actor: Actor, name: str, *, site_admin: bool = False, base_url: str | None = None
) -> NewUser:
    user = accounts.create_user(
        actor.context(ctx), name, site_admin=site_admin, check=site_admin_check(actor)
    )
    return NewUser(user, signin.invite(actor.context(ctx), user.username, base_url=base_url))


def invite(ctx: Context, actor: Actor, name: str, *, base_url: str | None = None) -> str:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
    return signin.invite(actor.context(ctx), name, base_url=base_url)


def rename_user(ctx: Context, actor: Actor, old: str, new: str) -> UserView:
    return accounts.rename_user(actor.context(ctx), old, new, check=site_admin_check(actor))


def set_suspended(ctx: Context, actor: Actor, name: str, suspended: bool) -> UserView:
    if suspended and name.lower() == actor.username.lower():
        raise InvalidInput("you cannot suspend yourself")
    view = accounts.set_suspended(
        actor.context(ctx), name, suspended, check=site_admin_check(actor)
    )
    if suspended:  # a suspended account's browsers are signed out at once
        with transaction(ctx.engine) as session:
            end_sessions_of(session, view.id)
    return view


def user_keys(ctx: Context, actor: Actor, username: str) -> list[KeyView]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        user = accounts.require_user(session, username)
        return [KeyView.of(k) for k in keys.keys_of_user(session, user.id)]


def add_user_key(
    ctx: Context, actor: Actor, username: str, data: bytes, *, title: str | None = None
) -> KeyView:
    """Like ``gitward key add``; a key in use is refused saying *where* (admins may know)."""
    try:
        return accounts.add_key(
            actor.context(ctx), username, data, title=title or None, check=site_admin_check(actor)
        )
    except AlreadyExists as exc:
        key = validate_public_key_upload(data, KeyPurpose.USER)
        holder = who_holds(ctx, actor, key.fingerprint)
        where = holder.description if holder else "elsewhere"
        raise AlreadyExists(f"key is already in use: {where}", cause=exc.cause) from exc


def remove_user_key(ctx: Context, actor: Actor, username: str, key_id: int) -> KeyView:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        user = accounts.require_user(session, username)
        row = session.get(SSHKey, key_id)
        if row is None or row.user_id != user.id:
            raise NotFound(f"{user.username} has no key with id {key_id}")
        view = KeyView.of(row)
        session.delete(row)
        actor.context(ctx).audit(session, "key.remove", user.username, fingerprint=view.fingerprint)
        return view


# --- who holds this key? -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyHolder(View):
    fingerprint: str
    kind: str  # user key, deploy key, certificate authority
    owner: str  # user name, OWNER/REPO, or "organization acme"
    title: str
    revoked: bool
    last_used_at: dt.datetime | None
    last_used_address: str | None
    certificates_issued: int  # certificates Gitward signed for this key

    @property
    def description(self) -> str:
        return f"{self.kind} of {self.owner} ({self.title})"


def parse_fingerprint_or_key(text: str) -> str:
    """A fingerprint as OpenSSH prints it, or a pasted public key line (its fingerprint)."""
    value = text.strip()
    if value.startswith("SHA256:"):
        if len(value) != 50:
            raise InvalidInput("a SHA256 fingerprint has 43 characters after SHA256:")
        return value
    key = validate_public_key_upload(value.encode("utf-8"), KeyPurpose.CA)
    return sha256_fingerprint(key.blob)


def who_holds(ctx: Context, actor: Actor, text: str) -> KeyHolder | None:
    fingerprint = parse_fingerprint_or_key(text)
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        revoked = revocations.key_revoked(session, [fingerprint])
        issued = certificates.count_for_key(session, fingerprint)
        key = keys.key_by_fingerprint(session, fingerprint)
        if key is not None:
            if key.repository_id is not None:
                repo = session.get(Repository, key.repository_id)
                kind, owner = "deploy key", repo.full_name if repo else "?"
            else:
                user = account_queries.user_by_id(session, key.user_id or 0)
                kind, owner = "user key", user.username if user else "?"
            return KeyHolder(
                fingerprint,
                kind,
                owner,
                key.title,
                revoked,
                key.last_used_at,
                key.last_used_address,
                issued,
            )
        ca = keys.ca_by_fingerprint(session, fingerprint)
        if ca is not None:
            owner = (
                f"organization {ca.organization.name}"
                if ca.organization
                else f"enterprise {ca.enterprise.name if ca.enterprise else '?'}"
            )
            return KeyHolder(
                fingerprint,
                "certificate authority",
                owner,
                ca.title,
                revoked,
                ca.last_used_at,
                ca.last_used_address,
                issued,
            )
        if issued:
            return KeyHolder(
                fingerprint,
                "certified key (not registered)",
                "see the certificates",
                "",
                revoked,
                None,
                None,
                issued,
            )
        return None


# --- certificates ------------------------------------------------------------------------

STATUSES: Final = ("valid", "expired", "revoked")


@dataclass(frozen=True)
class CertificateFilters:
    user: str | None = None
    organization: str | None = None
    ca: str | None = None
    status: str | None = None
    expiring_before: dt.datetime | None = None

    def query_kwargs(self, session: Session) -> dict[str, object]:
        if self.status and self.status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        found: dict[str, object] = {
            "ca_fingerprint": self.ca or None,
            "status": self.status or None,
            "expiring_before": self.expiring_before,
        }
        if self.user:
            user = account_queries.user_by_name(session, self.user)
            found["user_id"] = user.id if user else -1  # no such user: nothing matches
        if self.organization:
            org = account_queries.org_by_name(session, self.organization)
            found["organization_id"] = org.id if org else -1
        return found


def certificates_page(
    ctx: Context, actor: Actor, filters: CertificateFilters, paging: PageRequest
) -> Page[CertificateRow]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        return certificate_page(session, ctx.now(), paging, **filters.query_kwargs(session))


def revoke_certificate(
    ctx: Context, actor: Actor, serial: int, *, reason: str = ""
) -> revocation.RevocationView:
    """One issued certificate, by its serial (its CA is known from the inventory)."""
    if not 0 <= serial < 2**64:  # a serial is a uint64; the database cannot even look
        raise InvalidInput(f"a certificate serial is a number from 0 to {2**64 - 1}")
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        page = certificate_page(session, ctx.now(), PageRequest(1, 1), serial=serial)
    if not page.items:
        raise NotFound(f"no issued certificate with serial {serial}")
    return revocation.revoke_serial(
        actor.context(ctx),
        serial,
        page.items[0].ca_fingerprint,
        reason,
        check=site_admin_check(actor),
    )


def revoke_key_id(
    ctx: Context, actor: Actor, key_id: str, *, ca: str | None = None, reason: str = ""
) -> revocation.RevocationView:
    return revocation.revoke_key_id(
        actor.context(ctx), key_id, ca or None, reason, check=site_admin_check(actor)
    )


def revoke_key(
    ctx: Context, actor: Actor, data: bytes, *, reason: str = ""
) -> revocation.RevocationView:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
    return revocation.revoke_key(actor.context(ctx), data, reason)


def export_krl(ctx: Context, actor: Actor, ca: str | None = None) -> krl.ExportResult:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
    return krl.export_krl(ctx, ca or None)


# --- the audit trail ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    repository: str | None = None
    action: str | None = None
    outcome: str | None = None
    reason: str | None = None
    after: dt.datetime | None = None
    before: dt.datetime | None = None

    def query_kwargs(self) -> dict[str, object]:
        if self.outcome and self.outcome not in ("ok", "denied"):
            raise InvalidInput("outcome must be ok or denied")
        return {
            "actor": self.actor or None,
            "target": (self.repository or "").removesuffix(".git") or None,
            "action": self.action or None,
            "outcome": self.outcome or None,
            "reason": self.reason or None,
            "after": self.after,
            "before": self.before,
        }


@dataclass(frozen=True)
class AuditRow(View):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    peer: str | None
    reason: str | None
    detail: dict[str, object]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditRow:
        try:
            detail = json.loads(event.detail)
        except ValueError:
            detail = {}
        if not isinstance(detail, dict):
            detail = {}
        reason = detail.get("reason")
        return cls(
            event.id,
            event.at,
            event.actor,
            event.action,
            event.target,
            event.outcome,
            event.peer,
            reason if isinstance(reason, str) else None,
            detail,
        )


def audit_page(
    ctx: Context, actor: Actor, filters: AuditFilters, paging: PageRequest
) -> Page[AuditRow]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        rows, total = audit.search_events(
            session,
            offset=paging.offset,
            limit=paging.per_page,
            **filters.query_kwargs(),  # type: ignore[arg-type]
        )
        return Page([AuditRow.of(r) for r in rows], paging.page, paging.per_page, total)


AUDIT_COLUMNS: Final = (
    "id",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "peer",
    "reason",
    "detail",
)


def export_audit(ctx: Context, actor: Actor, filters: AuditFilters, fmt: str) -> Iterator[str]:
    """The matching events (newest first, at most EXPORT_LIMIT) as CSV or JSON lines...
    JSON is one array, written piece by piece so a large export is not held twice."""
    if fmt not in ("csv", "json"):
        raise InvalidInput("export as csv or json")
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor)
        rows, _ = audit.search_events(
            session,
            offset=0,
            limit=EXPORT_LIMIT,
            **filters.query_kwargs(),  # type: ignore[arg-type]
        )
        found = [AuditRow.of(r) for r in rows]
    return _csv(found) if fmt == "csv" else _json(found)


def _csv(rows: list[AuditRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_COLUMNS)
    for row in rows:
        data = row.to_json()
        data["detail"] = json.dumps(row.detail, sort_keys=True)
        writer.writerow([_safe_cell(data[c]) for c in AUDIT_COLUMNS])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _safe_cell(value: object) -> str:
    """No spreadsheet formulas from user-controlled text (CSV injection): a cell starting
    with = + - @ gets a leading apostrophe, as OWASP advises."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _json(rows: list[AuditRow]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row.to_json(), sort_keys=True)
    yield "]\n"


# --- organizations -------------------------------------------------------------------------


def list_orgs(ctx: Context, actor: Actor) -> list[OrgView]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor, scope="read:org")
        return [OrgView.of(o) for o in account_queries.list_orgs(session)]


def list_enterprises(ctx: Context, actor: Actor) -> list[dict[str, object]]:
    with transaction(ctx.engine) as session:
        require_site_admin(session, actor, scope="read:org")
        return [
            {"id": e.id, "name": e.name, "created_at": e.created_at.isoformat()}
            for e in account_queries.list_enterprises(session)
        ]
