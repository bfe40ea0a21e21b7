"""Shared fixtures: databases (SQLite always, PostgreSQL when configured) and vectors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

VECTORS = Path(__file__).parent / "vectors"
PG_ENV = "GITWARD_TEST_POSTGRES_URL"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    base = postgres_url()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    import psycopg

    schema = f"gw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gitward.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def upload_vectors() -> Path:
    return VECTORS / "upload"


@pytest.fixture(autouse=True)
def _no_default_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that fall back to the default data directory (./var) must not find the one
    a newcomer's `./scripts/serve` made in the checkout: point the default elsewhere."""
    monkeypatch.setenv("GITWARD_DATA_DIR", str(tmp_path_factory.mktemp("default-data")))
