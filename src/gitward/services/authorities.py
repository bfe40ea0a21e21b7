"""Certificate authorities trusted by organizations and enterprises."""

from __future__ import annotations

from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.services.context import Check, Context
from gitward.services.orgs import require_enterprise, require_org
from gitward.services.views import CAView
from gitward.store.db import transaction
from gitward.store.models import CertificateAuthority
from gitward.store.queries import keys


def add_ca(
    ctx: Context,
    data: bytes,
    *,
    org: str | None = None,
    enterprise: str | None = None,
    title: str | None = None,
    check: Check | None = None,
) -> CAView:
    if (org is None) == (enterprise is None):
        raise InvalidInput("name exactly one owner: --org ORG or --enterprise ENTERPRISE")
    key = validate_public_key_upload(data, KeyPurpose.CA)
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        owner_org = require_org(session, org) if org else None
        owner_ent = require_enterprise(session, enterprise) if enterprise else None
        existing = keys.ca_by_fingerprint(session, key.fingerprint)
        if existing is not None:
            same_owner = (owner_org and existing.organization_id == owner_org.id) or (
                owner_ent and existing.enterprise_id == owner_ent.id
            )
            if same_owner:
                raise AlreadyExists("this certificate authority is already registered here")
            raise AlreadyExists(
                "this certificate authority is already registered to another account"
            )
        if keys.key_by_fingerprint(session, key.fingerprint):
            raise AlreadyExists("key is already in use")
        ca = CertificateAuthority(
            fingerprint=key.fingerprint,
            key_type=key.key_type,
            public_key=key.openssh_line,
            title=(title or key.comment or key.fingerprint)[:200],
            organization=owner_org,
            enterprise=owner_ent,
            created_at=ctx.now(),
        )
        session.add(ca)
        session.flush()
        ctx.audit(session, "ca.add", org or enterprise or "", fingerprint=key.fingerprint)
        return CAView.of(ca)


def list_cas(ctx: Context) -> list[CAView]:
    with transaction(ctx.engine) as session:
        return [CAView.of(ca) for ca in keys.list_cas(session)]


def remove_ca(ctx: Context, fingerprint: str) -> CAView:
    with transaction(ctx.engine) as session:
        ca = keys.ca_by_fingerprint(session, fingerprint)
        if ca is None:
            raise NotFound(f"no certificate authority with fingerprint {fingerprint}")
        view = CAView.of(ca)
        session.delete(ca)
        ctx.audit(session, "ca.remove", view.owner, fingerprint=fingerprint)
        return view
