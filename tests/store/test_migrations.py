"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import SAWarning

from gitward.store.db import HEAD_REVISION, alembic_config, make_engine, migrate, open_store
from gitward.store.models import Base

TABLES = {
    "users",
    "enterprises",
    "organizations",
    "memberships",
    "repositories",
    "collaborators",
    "ssh_keys",
    "certificate_authorities",
    "audit_events",
    "alembic_version",
    "managed_ca_keys",
    "access_tokens",
    "issued_certificates",
    "revocations",
    "connector_keys",
    "connector_host_keys",
    "connector_repositories",
    "connector_branches",
    "connector_commits",
    "connector_commit_keys",
    "connector_branch_keys",
    "connector_commit_branches",
    "web_sessions",
    "sign_in_failures",
    "one_time_links",
}


def test_ok_upgrade_creates_every_table(database_url: str) -> None:
    engine = open_store(database_url)
    assert set(inspect(engine).get_table_names()) == TABLES


def test_ok_models_and_migrations_agree(database_url: str) -> None:
    engine = open_store(database_url)
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; alembic warns and skips them.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", SAWarning)
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_ok_upgrade_is_idempotent_and_downgrade_reverses_it(database_url: str) -> None:
    engine = open_store(database_url)
    migrate(engine)  # a second start changes nothing
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == TABLES


def test_ok_concurrent_starts_migrate_once(database_url: str) -> None:
    # Several frontends starting together against one database must not trip over each other.
    if database_url.startswith("sqlite"):
        pytest.skip("concurrent frontends share PostgreSQL; SQLite is single-host")
    engines = [make_engine(database_url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(migrate, engines))
    with engines[0].connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == HEAD_REVISION


def test_ok_head_revision_constant_matches_the_scripts() -> None:
    from alembic.script import ScriptDirectory

    from gitward.store.db import HEAD_REVISION, MIGRATIONS_DIR

    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD_REVISION
