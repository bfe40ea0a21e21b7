"""Plain read-only views of stored entities, for the CLI and the HTTP API."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from gitward.store.models import CertificateAuthority, Organization, Repository, SSHKey, User


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class View:
    def to_json(self) -> dict[str, Any]:
        return {k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class UserView(View):
    id: int
    username: str
    created_at: dt.datetime
    renamed_at: dt.datetime | None
    suspended: bool
    site_admin: bool

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            user.id,
            user.username,
            user.created_at,
            user.renamed_at,
            user.suspended,
            user.site_admin,
        )


@dataclass(frozen=True)
class KeyView(View):
    id: int
    fingerprint: str
    key_type: str
    title: str
    public_key: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    read_only: bool
    last_used_address: str | None = None
    bits: int | None = None

    @classmethod
    def of(cls, key: SSHKey) -> KeyView:
        return cls(
            key.id,
            key.fingerprint,
            key.key_type,
            key.title,
            key.public_key,
            key.created_at,
            key.last_used_at,
            key.read_only,
            key.last_used_address,
            key_bits(key.public_key),
        )


def key_bits(line: str) -> int | None:
    """The size of a stored public key line (RSA modulus bits, 256 for Ed25519...)."""
    from gitward.errors import GitwardError
    from gitward.keys.api import load_public_key

    try:
        return load_public_key(line.encode("ascii")).bits
    except (GitwardError, UnicodeEncodeError):  # a key we cannot size is still listed
        return None


@dataclass(frozen=True)
class OrgView(View):
    id: int
    name: str
    enterprise: str | None
    require_ssh_certificates: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, org: Organization) -> OrgView:
        enterprise = org.enterprise.name if org.enterprise else None
        return cls(org.id, org.name, enterprise, org.require_ssh_certificates, org.created_at)


@dataclass(frozen=True)
class CAView(View):
    id: int
    fingerprint: str
    key_type: str
    public_key: str
    title: str
    owner_kind: str
    owner: str
    created_at: dt.datetime
    managed: bool  # the server keeps the private key and issues with it
    retired_at: dt.datetime | None  # trusted until then (rotation)
    last_used_at: dt.datetime | None = None
    last_used_address: str | None = None

    @classmethod
    def of(cls, ca: CertificateAuthority) -> CAView:
        if ca.organization is not None:
            kind, owner = "organization", ca.organization.name
        else:
            assert ca.enterprise is not None  # one_owner constraint
            kind, owner = "enterprise", ca.enterprise.name
        return cls(
            ca.id,
            ca.fingerprint,
            ca.key_type,
            ca.public_key,
            ca.title,
            kind,
            owner,
            ca.created_at,
            ca.managed_key is not None,
            ca.retired_at,
            ca.last_used_at,
            ca.last_used_address,
        )


@dataclass(frozen=True)
class RepoView(View):
    id: int
    full_name: str
    owner_kind: str
    fork_of: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, repo: Repository) -> RepoView:
        kind = "user" if repo.owner_user_id is not None else "organization"
        fork_of = repo.fork_of.full_name if repo.fork_of else None
        return cls(repo.id, repo.full_name, kind, fork_of, repo.created_at)
