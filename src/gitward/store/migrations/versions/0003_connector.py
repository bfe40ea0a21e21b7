"""The repository connector: its key pair, pinned host keys, connected repositories with
their sync status, and the commit index (commits, branches, issue-key links).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connector_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False, unique=True),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sealed_private", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("certificate", sa.Text()),
        sa.Column("certificate_valid_after", TS),
        sa.Column("certificate_valid_before", TS),
        sa.Column("certify_server", sa.String(500)),
        sa.Column("certify_token_sealed", sa.Text()),
        sa.Column("certify_org", sa.String(39)),
        sa.Column("certify_validity", sa.String(64)),
        sa.Column("certify_error", sa.Text()),
        sa.CheckConstraint("state IN ('active', 'pending')", name="state"),
    )
    op.create_table(
        "connector_host_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index(
        "uq_connector_host_keys_host_port_fingerprint",
        "connector_host_keys",
        ["host", "port", "fingerprint"],
        unique=True,
    )
    op.create_table(
        "connector_repositories",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("webhook_secret_sealed", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_attempt_at", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_outcome", sa.String(16)),
        sa.Column("last_error_kind", sa.String(32)),
        sa.Column("last_error", sa.Text()),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, index=True),
        sa.Column("ref_count", sa.Integer()),
        sa.Column("default_branch", sa.String(255)),
        sa.Column("pending_key_accepted", sa.Boolean()),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", TS),
    )
    op.create_index(
        "uq_connector_repositories_name_lower",
        "connector_repositories",
        [sa.text("lower(name)")],
        unique=True,
    )
    repo_fk = sa.ForeignKey("connector_repositories.id", ondelete="CASCADE")
    op.create_table(
        "connector_branches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("repository_id", sa.Integer(), repo_fk, nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.UniqueConstraint("repository_id", "name"),
    )
    op.create_table(
        "connector_commits",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column(
            "repository_id",
            sa.Integer(),
            sa.ForeignKey("connector_repositories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("authored_at", TS, nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("author_email", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("files_changed", sa.Integer(), nullable=False),
        sa.Column("has_keys", sa.Boolean(), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("repository_id", "sha"),
    )
    commit_fk = sa.ForeignKey("connector_commits.id", ondelete="CASCADE")
    branch_fk = sa.ForeignKey("connector_branches.id", ondelete="CASCADE")
    op.create_table(
        "connector_commit_keys",
        sa.Column("issue_key", sa.String(64), primary_key=True),
        sa.Column("commit_id", BIG_ID, commit_fk, primary_key=True, index=True),
    )
    op.create_table(
        "connector_branch_keys",
        sa.Column("issue_key", sa.String(64), primary_key=True),
        sa.Column("branch_id", sa.Integer(), branch_fk, primary_key=True, index=True),
    )
    op.create_table(
        "connector_commit_branches",
        sa.Column(
            "commit_id",
            BIG_ID,
            sa.ForeignKey("connector_commits.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "branch_id",
            sa.Integer(),
            sa.ForeignKey("connector_branches.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
    )


def downgrade() -> None:
    for table in (
        "connector_commit_branches",
        "connector_branch_keys",
        "connector_commit_keys",
        "connector_commits",
        "connector_branches",
        "connector_repositories",
        "connector_host_keys",
        "connector_keys",
    ):
        op.drop_table(table)
