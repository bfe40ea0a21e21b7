"""Enterprises, organizations and memberships."""

from __future__ import annotations

from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.names import check_account_name
from gitward.services.accounts import ensure_name_free, require_user
from gitward.services.context import Check, Context
from gitward.services.views import OrgView
from gitward.store.db import Session, transaction
from gitward.store.models import Enterprise, Membership, Organization, Role
from gitward.store.queries import accounts


def require_org(session: Session, name: str) -> Organization:
    org = accounts.org_by_name(session, name)
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return org


def require_enterprise(session: Session, name: str) -> Enterprise:
    enterprise = accounts.enterprise_by_name(session, name)
    if enterprise is None:
        raise NotFound(f"no enterprise named {name!r}")
    return enterprise


def create_enterprise(ctx: Context, name: str, *, check: Check | None = None) -> dict[str, object]:
    check_account_name(name, what="enterprise name")
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        if accounts.enterprise_by_name(session, name):
            raise AlreadyExists(f"the name {name!r} is already taken")
        enterprise = Enterprise(name=name, created_at=ctx.now())
        session.add(enterprise)
        session.flush()
        ctx.audit(session, "enterprise.create", name, enterprise_id=enterprise.id)
        return {
            "id": enterprise.id,
            "name": enterprise.name,
            "created_at": enterprise.created_at.isoformat(),
        }


def create_org(
    ctx: Context, name: str, *, enterprise: str | None = None, check: Check | None = None
) -> OrgView:
    check_account_name(name, what="organization name")
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        ensure_name_free(session, name)
        parent = require_enterprise(session, enterprise) if enterprise else None
        org = Organization(
            name=name, enterprise=parent, require_ssh_certificates=False, created_at=ctx.now()
        )
        session.add(org)
        session.flush()
        ctx.audit(session, "org.create", name, org_id=org.id, enterprise=enterprise)
        return OrgView.of(org)


def list_orgs(ctx: Context) -> list[OrgView]:
    with transaction(ctx.engine) as session:
        return [OrgView.of(o) for o in accounts.list_orgs(session)]


def add_member(
    ctx: Context, org_name: str, username: str, role: str = "member", *, check: Check | None = None
) -> dict[str, str]:
    try:
        chosen = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role must be member or owner, not {role!r}") from exc
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        org = require_org(session, org_name)
        user = require_user(session, username)
        existing = accounts.membership(session, org.id, user.id)
        if existing is None:
            session.add(
                Membership(
                    organization_id=org.id, user_id=user.id, role=chosen, created_at=ctx.now()
                )
            )
        else:
            existing.role = chosen  # adding again changes the role, like GitHub's invite
        ctx.audit(session, "org.member.add", org.name, user=user.username, role=chosen.value)
        return {"organization": org.name, "user": user.username, "role": chosen.value}


def list_members(ctx: Context, org_name: str) -> list[dict[str, str]]:
    with transaction(ctx.engine) as session:
        org = require_org(session, org_name)
        return [
            {"user": u.username, "role": m.role.value}
            for m, u in accounts.list_members(session, org.id)
        ]


def require_certificates(
    ctx: Context, org_name: str, required: bool, *, check: Check | None = None
) -> OrgView:
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        org = require_org(session, org_name)
        org.require_ssh_certificates = required
        ctx.audit(session, "org.require_certificates", org.name, required=required)
        return OrgView.of(org)


def list_enterprises(ctx: Context) -> list[dict[str, object]]:
    with transaction(ctx.engine) as session:
        return [
            {"id": e.id, "name": e.name, "created_at": e.created_at.isoformat()}
            for e in accounts.list_enterprises(session)
        ]
