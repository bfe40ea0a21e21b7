"""The web UI and the admin API: passwords, browser sessions, sign-in throttling, one-time
links; where keys and CAs were last used; indexed facts of git commands in the audit trail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user_fk(*, nullable: bool) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=nullable,
        index=True,
    )


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) works in place on both backends; on the
    # append-only audit table it touches no row, so its triggers do not object.
    op.add_column("users", sa.Column("password_hash", sa.String(200)))
    op.add_column("ssh_keys", sa.Column("last_used_address", sa.String(64)))
    op.add_column("certificate_authorities", sa.Column("last_used_at", TS))
    op.add_column("certificate_authorities", sa.Column("last_used_address", sa.String(64)))
    op.add_column("audit_events", sa.Column("user_id", sa.Integer()))
    op.add_column("audit_events", sa.Column("organization_id", sa.Integer()))
    op.add_column("audit_events", sa.Column("credential_kind", sa.String(16)))
    op.create_index(
        "ix_audit_events_org_credential_at",
        "audit_events",
        ["organization_id", "credential_kind", "at"],
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        _user_fk(nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("peer", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_sign_in_failures_username_at", "sign_in_failures", ["username", "at"])
    op.create_index("ix_sign_in_failures_address_at", "sign_in_failures", ["address", "at"])
    op.create_table(
        "one_time_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        _user_fk(nullable=True),
        sa.Column("peer", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
    )


def downgrade() -> None:
    for table in ("one_time_links", "sign_in_failures", "web_sessions"):
        op.drop_table(table)
    op.drop_index("ix_audit_events_org_credential_at", "audit_events")
    # SQLite (3.35+) drops a plain column in place, so no table copy loses its triggers.
    for table, column in (
        ("audit_events", "credential_kind"),
        ("audit_events", "organization_id"),
        ("audit_events", "user_id"),
        ("certificate_authorities", "last_used_address"),
        ("certificate_authorities", "last_used_at"),
        ("ssh_keys", "last_used_address"),
        ("users", "password_hash"),
    ):
        op.drop_column(table, column)
