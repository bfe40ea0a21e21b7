"""Managed CAs: certificate authorities whose private key the server keeps and signs with.

``create_managed_ca`` generates the key, seals it with the CA secret (services/ca_secret.py)
and registers its public key like ``ca add`` does, so the owner trusts it at once. An
account may trust several CAs; the issuer signs with the *newest* managed CA that is not
retired. ``retire_ca`` sets a date after which a CA (managed or uploaded) neither signs nor
is trusted, which gives rotation its overlap window: create the new CA, retire the old one
at a date after the last certificates it signed have expired.
"""

from __future__ import annotations

import base64
import datetime as dt

from gitward.errors import AlreadyExists, ConfigurationError, InvalidInput, NotFound
from gitward.keys.api import export_private_key, load_private_key
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.generate import generate_key
from gitward.keys.model import PrivateKey
from gitward.services import ca_secret
from gitward.services.context import Check, Context
from gitward.services.orgs import require_enterprise, require_org
from gitward.services.views import CAView
from gitward.store.db import transaction
from gitward.store.models import CertificateAuthority, ManagedCAKey, Organization
from gitward.store.queries import keys

KEY_TYPES = {"ed25519": ("ed25519", None), "ecdsa": ("ecdsa", 256), "rsa": ("rsa", 4096)}
DEFAULT_MAX_LIFETIME = 24 * 3600
# A certificate living 366 days or more is refused by the server: the cap stays below.
MAX_MAX_LIFETIME = 365 * 86400


def create_managed_ca(
    ctx: Context,
    *,
    org: str | None = None,
    enterprise: str | None = None,
    key_type: str = "ed25519",
    title: str | None = None,
    check: Check | None = None,
) -> CAView:
    if (org is None) == (enterprise is None):
        raise InvalidInput("name exactly one owner: --org ORG or --enterprise ENTERPRISE")
    if key_type not in KEY_TYPES:
        raise InvalidInput(f"--type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")
    secret = ca_secret.load_secret(ctx.settings)  # refuse before generating anything
    algorithm, bits = KEY_TYPES[key_type]
    owner_name = org or enterprise or ""
    private = generate_key(algorithm, bits, comment=f"gitward CA for {owner_name}")
    public = private.public
    fingerprint = sha256_fingerprint(public.blob)
    sealed = ca_secret.seal(secret, export_private_key(private, "openssh"), fingerprint)
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        owner_org = require_org(session, org) if org else None
        owner_ent = require_enterprise(session, enterprise) if enterprise else None
        if keys.ca_by_fingerprint(session, fingerprint) or keys.key_by_fingerprint(
            session, fingerprint
        ):
            raise AlreadyExists("key is already in use")  # a fresh key: practically never
        now = ctx.now()
        ca = CertificateAuthority(
            fingerprint=fingerprint,
            key_type=public.ssh_type,
            public_key=f"{public.ssh_type} {_b64(public.blob)}",
            title=_title(title, owner_org, owner_name),
            organization=owner_org,
            enterprise=owner_ent,
            created_at=now,
        )
        session.add(ca)
        session.flush()
        session.add(ManagedCAKey(ca_id=ca.id, encrypted_key=sealed, created_at=now))
        session.flush()
        ctx.audit(session, "ca.create", owner_name, fingerprint=fingerprint, key_type=key_type)
        return CAView.of(ca)


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def _title(title: str | None, org: Organization | None, owner: str) -> str:
    chosen = (title or f"managed CA of {owner}").strip()
    if len(chosen) > 200 or any(ord(ch) < 32 for ch in chosen):
        raise InvalidInput("a CA title is one line of at most 200 characters")
    return chosen


def retire_ca(ctx: Context, fingerprint: str, at: dt.datetime) -> CAView:
    """From ``at`` on the CA signs nothing and is not trusted (``at`` may be now or past)."""
    if at.tzinfo is None:
        raise InvalidInput("the retirement time needs a time zone (or use a date)")
    with transaction(ctx.engine) as session:
        ca = keys.ca_by_fingerprint(session, fingerprint)
        if ca is None:
            raise NotFound(f"no certificate authority with fingerprint {fingerprint}")
        ca.retired_at = at.astimezone(dt.UTC)
        ctx.audit(session, "ca.retire", fingerprint, at=at.isoformat())
        return CAView.of(ca)


def set_max_lifetime(ctx: Context, org_name: str, seconds: int | None) -> dict[str, object]:
    """The longest certificate the issuer signs for ORG; None restores the default (24 h)."""
    if seconds is not None and not 60 <= seconds <= MAX_MAX_LIFETIME:
        raise InvalidInput("the certificate lifetime cap must be between 1 minute and 365 days")
    with transaction(ctx.engine) as session:
        org = require_org(session, org_name)
        org.certificate_max_lifetime = seconds
        ctx.audit(session, "org.certificate_max_lifetime", org.name, seconds=seconds)
        return {"organization": org.name, "max_lifetime_seconds": max_lifetime(org)}


def max_lifetime(org: Organization) -> int:
    return org.certificate_max_lifetime or DEFAULT_MAX_LIFETIME


def open_private_key(secret: bytes, managed: ManagedCAKey, ca: CertificateAuthority) -> PrivateKey:
    """Decrypt a managed CA's private key and check it is the CA's (an altered row is not)."""
    return open_sealed_key(secret, managed.encrypted_key, ca.fingerprint)


def open_sealed_key(secret: bytes, sealed: str, fingerprint: str) -> PrivateKey:
    """``open_private_key`` from the stored columns (the issuing hot path reads them with
    Core SQL, not as ORM objects)."""
    data = ca_secret.open_sealed(secret, sealed, fingerprint)
    private = load_private_key(data)
    if sha256_fingerprint(private.public.blob) != fingerprint:
        raise ConfigurationError(
            "a managed CA key does not match its certificate authority",
            cause=f"CA {fingerprint}",
        )
    return private
