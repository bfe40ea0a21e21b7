"""The facts policy decides on: frozen snapshots the transport fills from the database.

Policy code never queries anything; whatever it needs is a field here. Times are Unix
seconds (UTC). Ids are database ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from gitward.ca.certificate import Certificate

CAOwnerKind = Literal["org", "enterprise"]
RepoOwnerKind = Literal["user", "org"]
Permission = Literal["read", "write", "admin"]
OrgRole = Literal["owner", "member"]

PERMISSION_RANK: Final[dict[Permission, int]] = {"read": 1, "write": 2, "admin": 3}


@dataclass(frozen=True)
class TrustedCA:
    """A registered certificate authority. It belongs to one organization or enterprise."""

    ca_id: int
    fingerprint: str  # SHA256:... of the CA public key
    owner_kind: CAOwnerKind
    owner_id: int
    revoked: bool = False  # removed or revoked: trusts nothing any more


@dataclass(frozen=True)
class UserFacts:
    id: int
    username: str
    created_at: int
    renamed_at: int | None = None  # last time the username changed, if ever
    suspended: bool = False


@dataclass(frozen=True)
class RepoFacts:
    id: int
    owner_kind: RepoOwnerKind
    owner_id: int  # a user id or an organization id, per owner_kind
    owner_name: str
    name: str
    # For organization repositories only (ignored for user-owned ones):
    org_requires_certificates: bool = False
    org_enterprise_id: int | None = None

    @property
    def path(self) -> str:
        return f"{self.owner_name}/{self.name}"


@dataclass(frozen=True)
class RevocationFacts:
    """What is revoked, for one certificate check.

    ``key_ids`` and ``serials`` are those revoked *under the certificate's CA* (key ids
    and serials are only unique per CA, as in an OpenSSH KRL): the transport loads them
    for the CA it found. Fingerprints are global.
    """

    certificate_fingerprints: frozenset[str] = field(default_factory=frozenset)
    key_fingerprints: frozenset[str] = field(default_factory=frozenset)
    key_ids: frozenset[str] = field(default_factory=frozenset)
    serials: frozenset[int] = field(default_factory=frozenset)


NO_REVOCATIONS: Final = RevocationFacts()


@dataclass(frozen=True)
class UserKeyCredential:
    """A public key registered to a user account."""

    user: UserFacts
    key_fingerprint: str = ""


@dataclass(frozen=True)
class DeployKeyCredential:
    """A key registered to one repository: reads it, writes only if granted."""

    repo_id: int
    write: bool = False
    key_fingerprint: str = ""


@dataclass(frozen=True)
class CertificateCredential:
    """A user certificate that passed ``identity.check_certificate``."""

    user: UserFacts
    ca: TrustedCA
    cert: Certificate


Credential = UserKeyCredential | DeployKeyCredential | CertificateCredential
