"""Issuing service: managed CA keys, access tokens, issued certificates, revocations.

Also ``certificate_authorities.retired_at`` (rotation) and
``organizations.certificate_max_lifetime`` (the issuer's per-organization cap).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(
    column: str,
    table: str,
    ondelete: str,
    *,
    nullable: bool = True,
    index: bool = False,
    primary_key: bool = False,
) -> sa.Column[int]:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{table}.id", ondelete=ondelete),
        nullable=nullable and not primary_key,
        index=index,
        primary_key=primary_key,
    )


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) works in place on both backends.
    op.add_column("certificate_authorities", sa.Column("retired_at", TS))
    op.add_column("organizations", sa.Column("certificate_max_lifetime", sa.Integer()))
    op.create_table(
        "managed_ca_keys",
        _fk("ca_id", "certificate_authorities", "CASCADE", primary_key=True),
        sa.Column("encrypted_key", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("user_id", "users", "CASCADE", nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "issued_certificates",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("serial", sa.BigInteger()),
        sa.Column("key_id", sa.String(200), nullable=False, index=True),
        _fk("ca_id", "certificate_authorities", "SET NULL", index=True),
        sa.Column("ca_fingerprint", sa.String(64), nullable=False),
        _fk("user_id", "users", "SET NULL", index=True),
        sa.Column("username", sa.String(39), nullable=False),
        _fk("organization_id", "organizations", "SET NULL"),
        sa.Column("principals", sa.Text(), nullable=False),
        sa.Column("valid_after", TS, nullable=False),
        sa.Column("valid_before", TS, nullable=False, index=True),
        sa.Column("critical_options", sa.Text(), nullable=False),
        sa.Column("extensions", sa.Text(), nullable=False),
        sa.Column("requester_address", sa.String(64)),
        sa.Column("public_key_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("certificate_fingerprint", sa.String(64), unique=True),
        sa.Column("certificate", sa.Text()),
        sa.Column("created_at", TS, nullable=False, index=True),
    )
    op.create_index(
        "uq_issued_certificates_ca_serial",
        "issued_certificates",
        ["ca_fingerprint", "serial"],
        unique=True,
    )
    op.create_table(
        "revocations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "kind",
            sa.Enum(
                "serial",
                "key_id",
                "key",
                "certificate",
                name="revocation_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("ca_fingerprint", sa.String(64)),
        sa.Column("serial_min", sa.BigInteger()),
        sa.Column("serial_max", sa.BigInteger()),
        sa.Column("key_id", sa.String(1024)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("public_key", sa.Text()),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "kind <> 'serial' OR (ca_fingerprint IS NOT NULL AND serial_min IS NOT NULL "
            "AND serial_max IS NOT NULL AND serial_min <= serial_max)",
            name="serial_range",
        ),
        sa.CheckConstraint("kind <> 'key_id' OR key_id IS NOT NULL", name="key_id_given"),
        sa.CheckConstraint(
            "kind NOT IN ('key', 'certificate') OR fingerprint IS NOT NULL",
            name="fingerprint_given",
        ),
    )
    op.create_index("ix_revocations_ca_serial", "revocations", ["ca_fingerprint", "serial_min"])
    op.create_index("ix_revocations_key_id", "revocations", ["key_id", "ca_fingerprint"])
    op.create_index("ix_revocations_fingerprint", "revocations", ["fingerprint"])


def downgrade() -> None:
    for table in ("revocations", "issued_certificates", "access_tokens", "managed_ca_keys"):
        op.drop_table(table)
    # SQLite (3.35+) drops a plain column in place, so no table copy loses its CHECKs.
    op.drop_column("organizations", "certificate_max_lifetime")
    op.drop_column("certificate_authorities", "retired_at")
