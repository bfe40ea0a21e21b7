"""Initial schema: accounts, organizations, repositories, keys, CAs, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _created() -> sa.Column[dt.datetime]:
    return sa.Column("created_at", TS, nullable=False)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _fk(
    column: str, table: str, ondelete: str, *, index: bool = False, primary_key: bool = False
) -> sa.Column[int]:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{table}.id", ondelete=ondelete),
        index=index,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.String(39), nullable=False),
        _created(),
        sa.Column("renamed_at", TS),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("site_admin", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "enterprises", _id(), sa.Column("name", sa.String(64), nullable=False), _created()
    )
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(39), nullable=False),
        _fk("enterprise_id", "enterprises", "RESTRICT", index=True),
        sa.Column("require_ssh_certificates", sa.Boolean(), nullable=False),
        _created(),
    )
    op.create_table(
        "memberships",
        _fk("organization_id", "organizations", "CASCADE", primary_key=True),
        _fk("user_id", "users", "CASCADE", primary_key=True, index=True),
        sa.Column("role", _enum("membership_role", "member", "owner"), nullable=False),
        _created(),
    )
    op.create_table(
        "repositories",
        _id(),
        _fk("owner_user_id", "users", "RESTRICT"),
        _fk("owner_organization_id", "organizations", "RESTRICT"),
        sa.Column("name", sa.String(100), nullable=False),
        _fk("fork_of_id", "repositories", "SET NULL", index=True),
        _created(),
        sa.CheckConstraint(
            "(owner_user_id IS NULL) <> (owner_organization_id IS NULL)", name="one_owner"
        ),
    )
    op.create_table(
        "collaborators",
        _fk("repository_id", "repositories", "CASCADE", primary_key=True),
        _fk("user_id", "users", "CASCADE", primary_key=True, index=True),
        sa.Column(
            "permission", _enum("collaborator_permission", "read", "write", "admin"), nullable=False
        ),
        _created(),
    )
    op.create_table(
        "ssh_keys",
        _id(),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        _fk("user_id", "users", "CASCADE", index=True),
        _fk("repository_id", "repositories", "CASCADE", index=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        _created(),
        sa.Column("last_used_at", TS),
        sa.CheckConstraint("(user_id IS NULL) <> (repository_id IS NULL)", name="one_owner"),
        sa.CheckConstraint("repository_id IS NOT NULL OR read_only", name="user_keys_read_only"),
    )
    op.create_table(
        "certificate_authorities",
        _id(),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        _fk("organization_id", "organizations", "CASCADE", index=True),
        _fk("enterprise_id", "enterprises", "CASCADE", index=True),
        _created(),
        sa.CheckConstraint(
            "(organization_id IS NULL) <> (enterprise_id IS NULL)", name="one_owner"
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("peer", sa.String(64)),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    _case_insensitive_names()
    _append_only("audit_events")


def _case_insensitive_names() -> None:
    lower = sa.func.lower
    op.create_index("uq_users_username_lower", "users", [lower(sa.column("username"))], unique=True)
    op.create_index(
        "uq_enterprises_name_lower", "enterprises", [lower(sa.column("name"))], unique=True
    )
    op.create_index(
        "uq_organizations_name_lower", "organizations", [lower(sa.column("name"))], unique=True
    )
    op.create_index(
        "uq_repositories_user_name",
        "repositories",
        [sa.column("owner_user_id"), lower(sa.column("name"))],
        unique=True,
    )
    op.create_index(
        "uq_repositories_org_name",
        "repositories",
        [sa.column("owner_organization_id"), lower(sa.column("name"))],
        unique=True,
    )


def _append_only(table: str) -> None:
    """The audit trail can only grow: the database refuses UPDATE and DELETE on it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "audit_events",
        "certificate_authorities",
        "ssh_keys",
        "collaborators",
        "repositories",
        "memberships",
        "organizations",
        "enterprises",
        "users",
    ):
        op.drop_table(table)
