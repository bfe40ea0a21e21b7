from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gitward.services.context import Context, open_context
from gitward.settings import Settings

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Context:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        hostname="git.example.com",
        ssh_port=22,
    )
    base = open_context(settings)
    return Context(engine=base.engine, settings=settings, actor="test", clock=lambda: NOW)
