"""The data model. Only ``store`` imports SQLAlchemy.

Names of users and organizations share one namespace (both own repositories as
``OWNER/NAME``); uniqueness is case-insensitive, like GitHub's, through indexes on
``lower(name)``. User keys and deploy keys live in one table so that a fingerprint is
unique across the whole installation, enforced by the database itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    MEMBER = "member"
    OWNER = "owner"


class Permission(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so both backends behave alike.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(39), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    renamed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    suspended: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    site_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # argon2id (services/passwords.py); NULL: no password, the account signs in by SSH key or
    # a one-time link only.
    password_hash: Mapped[str | None] = mapped_column(String(200))


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(39), nullable=False)
    enterprise_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True
    )
    require_ssh_certificates: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # The longest certificate the issuing API signs for this organization, in seconds;
    # NULL means the default (24 hours). Always under 366 days.
    certificate_max_lifetime: Mapped[int | None] = mapped_column(Integer)

    enterprise: Mapped[Enterprise | None] = relationship()


class Membership(Base):
    __tablename__ = "memberships"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "membership_role"), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = (
        CheckConstraint(
            "(owner_user_id IS NULL) <> (owner_organization_id IS NULL)", name="one_owner"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    owner_organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    fork_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    owner_user: Mapped[User | None] = relationship(foreign_keys=[owner_user_id])
    owner_organization: Mapped[Organization | None] = relationship(
        foreign_keys=[owner_organization_id]
    )
    fork_of: Mapped[Repository | None] = relationship(remote_side=[id])

    @property
    def owner_name(self) -> str:
        owner = self.owner_user or self.owner_organization
        assert owner is not None  # guaranteed by the one_owner constraint
        return owner.username if isinstance(owner, User) else owner.name

    @property
    def full_name(self) -> str:
        return f"{self.owner_name}/{self.name}"


class Collaborator(Base):
    __tablename__ = "collaborators"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[Permission] = mapped_column(
        _enum(Permission, "collaborator_permission"), nullable=False
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class SSHKey(Base):
    """A user's public key or a repository's deploy key: exactly one of the two owners."""

    __tablename__ = "ssh_keys"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (repository_id IS NULL)", name="one_owner"),
        CheckConstraint("repository_id IS NOT NULL OR read_only", name="user_keys_read_only"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_type: Mapped[str] = mapped_column(String(64), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    read_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_address: Mapped[str | None] = mapped_column(String(64))

    @property
    def is_deploy_key(self) -> bool:
        return self.repository_id is not None


class CertificateAuthority(Base):
    __tablename__ = "certificate_authorities"
    __table_args__ = (
        CheckConstraint("(organization_id IS NULL) <> (enterprise_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_type: Mapped[str] = mapped_column(String(64), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    enterprise_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # From this time on the CA signs nothing and the server no longer trusts it (rotation:
    # a new CA is added first, the old one retired at a date, both trusted until then).
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last accepted certificate it signed (recorded at most once a minute, see ssh_access).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_address: Mapped[str | None] = mapped_column(String(64))

    organization: Mapped[Organization | None] = relationship()
    enterprise: Mapped[Enterprise | None] = relationship()
    # The private key, when the server keeps it (``gitward ca create``); None when uploaded.
    managed_key: Mapped[ManagedCAKey | None] = relationship(
        "ManagedCAKey", viewonly=True, uselist=False
    )


class AuditEvent(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    peer: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    # Indexed facts of git commands (NULL on other events and on events before 0004): who
    # (user id, names change), which organization's repository, with what credential
    # ("key", "deploy_key", "certificate"). The "require certificates" preview reads them.
    user_id: Mapped[int | None] = mapped_column(Integer)
    organization_id: Mapped[int | None] = mapped_column(Integer)
    credential_kind: Mapped[str | None] = mapped_column(String(16))


class ManagedCAKey(Base):
    """The private key of a CA the server keeps and signs with (``gitward ca create``).

    ``encrypted_key`` is the OpenSSH private key sealed with AES-256-GCM under a key derived
    from the deployment's CA secret (see services/ca_secret.py); the CA's fingerprint is the
    associated data, so a sealed key copied onto another CA's row does not open.
    """

    __tablename__ = "managed_ca_keys"

    ca_id: Mapped[int] = mapped_column(
        ForeignKey("certificate_authorities.id", ondelete="CASCADE"), primary_key=True
    )
    encrypted_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    ca: Mapped[CertificateAuthority] = relationship()


class AccessToken(Base):
    """A personal access token. Only the SHA-256 of the token is kept: tokens are 32 random
    bytes, so a fast hash is as good as a slow one and lets issuing stay cheap."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hint: Mapped[str] = mapped_column(String(16), nullable=False)  # "gwp_AbCd", to recognise it
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)  # space-separated
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class IssuedCertificate(Base):
    """Every certificate Gitward signs. The row outlives its user and CA (history), so those
    links become NULL on deletion while the names and fingerprints stay.

    The serial is this row's id: the database allocates it without any lock shared between
    requests. The row is inserted before signing (the serial must exist before the
    signature); ``serial``, ``certificate`` and ``certificate_fingerprint`` are filled in the
    same transaction right after, so no committed row has them NULL.
    """

    __tablename__ = "issued_certificates"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    serial: Mapped[int | None] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    ca_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificate_authorities.id", ondelete="SET NULL"), index=True
    )
    ca_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(39), nullable=False)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    principals: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    valid_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    critical_options: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    extensions: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    requester_address: Mapped[str | None] = mapped_column(String(64))
    public_key_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    certificate: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class Uint64(TypeDecorator[int]):
    """An unsigned 64-bit integer (an SSH certificate serial) in a signed BIGINT column.

    Stored as ``value - 2**63``: order-preserving, so range queries and CHECKs work on the
    stored numbers, and every serial a KRL can name (up to 2**64-1) fits on both backends.
    """

    impl = BigInteger
    cache_ok = True
    OFFSET = 2**63

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        return None if value is None else value - self.OFFSET

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value) + self.OFFSET


class RevocationKind(enum.StrEnum):
    SERIAL = "serial"  # serials serial_min..serial_max under the CA ca_fingerprint
    KEY_ID = "key_id"  # a key id under ca_fingerprint, or under every CA when that is NULL
    KEY = "key"  # a public key: as a plain key, under every certificate, and as a CA
    CERTIFICATE = "certificate"  # one exact certificate (by its own fingerprint)


class Revocation(Base):
    """One revoked thing. The server looks rows up by the columns a certificate or key can
    match (never by scanning), so every lookup column is indexed.

    Rows are keyed by CA *fingerprint*, not id: revocations survive a CA being removed and
    added again, and a KRL may revoke under CAs not registered here (yet).
    """

    __tablename__ = "revocations"
    __table_args__ = (
        CheckConstraint(
            "kind <> 'serial' OR (ca_fingerprint IS NOT NULL AND serial_min IS NOT NULL "
            "AND serial_max IS NOT NULL AND serial_min <= serial_max)",
            name="serial_range",
        ),
        CheckConstraint("kind <> 'key_id' OR key_id IS NOT NULL", name="key_id_given"),
        CheckConstraint(
            "kind NOT IN ('key', 'certificate') OR fingerprint IS NOT NULL",
            name="fingerprint_given",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[RevocationKind] = mapped_column(
        _enum(RevocationKind, "revocation_kind"), nullable=False
    )
    ca_fingerprint: Mapped[str | None] = mapped_column(String(64))
    serial_min: Mapped[int | None] = mapped_column(Uint64)  # stored offset, see Uint64
    serial_max: Mapped[int | None] = mapped_column(Uint64)
    key_id: Mapped[str | None] = mapped_column(String(1024))
    # "SHA256:..." of a key or certificate blob; "SHA1:..." only for KRL-imported SHA-1 hashes.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    public_key: Mapped[str | None] = mapped_column(Text)  # the key line, when known (KRL export)
    reason: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


# Case-insensitive uniqueness, as GitHub has it: "Alice" and "alice" are one account.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
Index("uq_enterprises_name_lower", func.lower(Enterprise.name), unique=True)
Index("uq_organizations_name_lower", func.lower(Organization.name), unique=True)
Index(
    "uq_repositories_user_name",
    Repository.owner_user_id,
    func.lower(Repository.name),
    unique=True,
)
Index(
    "uq_repositories_org_name",
    Repository.owner_organization_id,
    func.lower(Repository.name),
    unique=True,
)
# Serials are unique per CA (the issuer allocates them from the table's id).
Index(
    "uq_issued_certificates_ca_serial",
    IssuedCertificate.ca_fingerprint,
    IssuedCertificate.serial,
    unique=True,
)
Index("ix_revocations_ca_serial", Revocation.ca_fingerprint, Revocation.serial_min)
Index("ix_revocations_key_id", Revocation.key_id, Revocation.ca_fingerprint)
Index("ix_revocations_fingerprint", Revocation.fingerprint)


# ---- the repository connector (issue 10) ------------------------------------------------


class ConnectorKey(Base):
    """The connector's key pair: at most one ``active`` and one ``pending`` (a replacement
    being tested on every repository), enforced by the unique index on ``state``.

    ``sealed_private`` is the OpenSSH private key sealed like managed CA keys (AES-256-GCM
    under the CA secret) with associated data naming the connector and the fingerprint
    (services/connector_keys.py), so it opens neither as a CA key nor on another row.
    """

    __tablename__ = "connector_keys"
    __table_args__ = (CheckConstraint("state IN ('active', 'pending')", name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    key_type: Mapped[str] = mapped_column(String(64), nullable=False)
    bits: Mapped[int] = mapped_column(Integer, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    sealed_private: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # The certificate the key carries (key certify), and how to renew it.
    certificate: Mapped[str | None] = mapped_column(Text)
    certificate_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    certificate_valid_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    certify_server: Mapped[str | None] = mapped_column(String(500))
    certify_token_sealed: Mapped[str | None] = mapped_column(Text)
    certify_org: Mapped[str | None] = mapped_column(String(39))
    certify_validity: Mapped[str | None] = mapped_column(String(64))
    certify_error: Mapped[str | None] = mapped_column(Text)  # the last renewal's failure


class ConnectorHostKey(Base):
    """A pinned host key: one pin serves every repository on that host and port."""

    __tablename__ = "connector_host_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    key_type: Mapped[str] = mapped_column(String(64), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # base64 of the blob
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class ConnectorRepository(Base):
    """A connected remote repository and its sync status (what the scheduler, the API and
    metrics read: outcome, times, failures, next attempt, and the lease that keeps two
    frontends from syncing it at once)."""

    __tablename__ = "connector_repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # "ok" or "failed"
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    ref_count: Mapped[int | None] = mapped_column(Integer)
    default_branch: Mapped[str | None] = mapped_column(String(255))
    pending_key_accepted: Mapped[bool | None] = mapped_column(Boolean)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConnectorBranch(Base):
    __tablename__ = "connector_branches"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("connector_repositories.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(1024), nullable=False)
    sha: Mapped[str] = mapped_column(String(64), nullable=False)


class ConnectorCommit(Base):
    """One indexed commit. ``reachable`` turns false when no branch contains it any more
    (a force-push): it stays findable, marked so."""

    __tablename__ = "connector_commits"
    __table_args__ = (UniqueConstraint("repository_id", "sha"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("connector_repositories.id", ondelete="CASCADE"), nullable=False
    )
    sha: Mapped[str] = mapped_column(String(64), nullable=False)
    authored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    author_name: Mapped[str] = mapped_column(String(200), nullable=False)
    author_email: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    files_changed: Mapped[int] = mapped_column(Integer, nullable=False)
    has_keys: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reachable: Mapped[bool] = mapped_column(Boolean, nullable=False)


class ConnectorCommitKey(Base):
    """issue key -> commit: the search path (the primary key's index starts with the key)."""

    __tablename__ = "connector_commit_keys"

    issue_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    commit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("connector_commits.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )


class ConnectorBranchKey(Base):
    __tablename__ = "connector_branch_keys"

    issue_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("connector_branches.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ConnectorCommitBranch(Base):
    """Which branches contain a commit, kept only for commits that mention an issue key
    (the only ones a search returns): a history of 100,000 commits on 20 branches would
    otherwise need two million rows."""

    __tablename__ = "connector_commit_branches"

    commit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("connector_commits.id", ondelete="CASCADE"),
        primary_key=True,
    )
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("connector_branches.id", ondelete="CASCADE"), primary_key=True, index=True
    )


Index("uq_connector_repositories_name_lower", func.lower(ConnectorRepository.name), unique=True)
Index(
    "uq_connector_host_keys_host_port_fingerprint",
    ConnectorHostKey.host,
    ConnectorHostKey.port,
    ConnectorHostKey.fingerprint,
    unique=True,
)


# ---- the web UI (issue 13) ---------------------------------------------------------------


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; the row is keyed by its SHA-256,
    so a copy of the database does not let anyone sign in. Kept in the database (not a
    signed cookie) because several frontends share sessions and signing out must end a
    session on all of them at once."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)  # password, ssh, invite, setup
    peer: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    user: Mapped[User] = relationship()


class SignInFailure(Base):
    """One failed password sign-in, for throttling per account and per address across every
    frontend. Rows older than the throttle window are deleted as new failures arrive."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)  # lowercased, as typed
    address: Mapped[str] = mapped_column(String(64), nullable=False)


class OneTimeLink(Base):
    """A sign-in link used at most once: ``ssh git@host login`` (5 minutes), an invitation
    (``gitward user invite``), or the first-run setup link (no user yet). Only the SHA-256
    of the token is kept."""

    __tablename__ = "one_time_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    peer: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


Index("ix_sign_in_failures_username_at", SignInFailure.username, SignInFailure.at)
Index("ix_sign_in_failures_address_at", SignInFailure.address, SignInFailure.at)
# The "require certificates" preview: one organization's git commands by credential, by time.
Index(
    "ix_audit_events_org_credential_at",
    AuditEvent.organization_id,
    AuditEvent.credential_kind,
    AuditEvent.at,
)

__all__ = [
    "AccessToken",
    "AuditEvent",
    "Base",
    "CertificateAuthority",
    "Collaborator",
    "ConnectorBranch",
    "ConnectorBranchKey",
    "ConnectorCommit",
    "ConnectorCommitBranch",
    "ConnectorCommitKey",
    "ConnectorHostKey",
    "ConnectorKey",
    "ConnectorRepository",
    "Enterprise",
    "IssuedCertificate",
    "ManagedCAKey",
    "Membership",
    "OneTimeLink",
    "Organization",
    "Permission",
    "Repository",
    "Revocation",
    "RevocationKind",
    "Role",
    "SSHKey",
    "SignInFailure",
    "User",
    "WebSession",
]
