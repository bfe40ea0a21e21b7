"""/healthz, /readyz and /metrics of the real app (uvicorn on 127.0.0.1): ready only when
the database answers, its schema is at this build's head and SSH listens, and the check
that fails is named."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gitward.http.monitoring import MetricsServer
from gitward.http.server import HttpServer
from gitward.services.context import Context
from gitward.settings import Settings
from gitward.store.db import HEAD_REVISION, make_engine


@contextlib.contextmanager
def serving(ctx: Context, ssh_listening: Callable[[], bool] | None) -> Iterator[httpx.Client]:
    server = HttpServer(ctx, "127.0.0.1", 0, ssh_listening=ssh_listening)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def test_ok_ready_when_database_schema_and_ssh_are(ctx: Context) -> None:
    with serving(ctx, lambda: True) as http:
        health = http.get("/healthz")
        ready = http.get("/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "failing": [],
        "checks": {
            "database": {"ok": True, "detail": "reachable"},
            "migrations": {"ok": True, "detail": f"at {HEAD_REVISION}"},
            "ssh": {"ok": True, "detail": "listening"},
        },
    }


@pytest.mark.parametrize("probe", [None, lambda: False], ids=["fail/no-ssh", "fail/ssh-closed"])
def test_fail_not_ready_while_ssh_is_not_listening(
    ctx: Context, probe: Callable[[], bool] | None
) -> None:
    with serving(ctx, probe) as http:
        ready = http.get("/readyz")
        health = http.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["ssh"]
    assert ready.json()["checks"]["ssh"] == {"ok": False, "detail": "not listening"}
    assert health.status_code == 200  # alive all the same: do not restart it


def test_fail_not_ready_when_the_schema_is_behind(ctx: Context) -> None:
    with ctx.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    with serving(ctx, lambda: True) as http:
        ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["migrations"]
    detail = ready.json()["checks"]["migrations"]["detail"]
    assert detail == f"at 0003, this build needs {HEAD_REVISION}"


def test_fail_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    url = "postgresql://postgres@127.0.0.1:1/test"
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    ctx = Context(engine=make_engine(url), settings=settings)
    with serving(ctx, lambda: True) as http:
        ready = http.get("/readyz")
        health = http.get("/healthz")
        scraped = http.get("/metrics")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready" and body["failing"] == ["database", "migrations"]
    assert body["checks"]["database"] == {"ok": False, "detail": "the database is not reachable"}
    assert "127.0.0.1:1" not in ready.text  # the cause is for the log, not the answer
    assert health.status_code == 200
    assert scraped.status_code == 200  # the connector ages are left out, the rest answers
    assert "gitward_ssh_connections_accepted_total" in scraped.text


def test_ok_metrics_on_their_own_address_and_not_on_the_http_listener(ctx: Context) -> None:
    ctx = Context(
        engine=ctx.engine,
        settings=ctx.settings.model_copy(update={"metrics_port": 0}),
        clock=ctx.clock,
    )
    own = MetricsServer(ctx)
    own.start()
    try:
        scraped = httpx.get(own.url, timeout=30)
        with serving(ctx, lambda: True) as http:
            on_http = http.get("/metrics")
    finally:
        own.stop()
    assert scraped.status_code == 200
    assert "# TYPE gitward_git_operations_total counter" in scraped.text
    assert on_http.status_code == 404


def test_ok_metrics_text_format_on_the_http_listener(ctx: Context) -> None:
    with serving(ctx, lambda: True) as http:
        scraped = http.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "gitward_ssh_connections_accepted_total",
        "gitward_ssh_unauthenticated_connections",
        "gitward_ssh_penalized_sources",
    ):
        assert f"\n{name} " in scraped.text
