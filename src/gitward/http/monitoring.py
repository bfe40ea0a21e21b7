"""``/healthz``, ``/readyz`` and ``/metrics``: what load balancers, systemd and Prometheus read.

* ``GET /healthz``: 200 ``{"status": "ok"}`` while the process answers at all.
* ``GET /readyz``: 200 when the database answers, its schema is at this build's migration
  head and the SSH listener accepts connections; otherwise 503 with the failing checks
  named (``{"status": "not ready", "failing": ["ssh"], "checks": {...}}``). A check that
  takes longer than ``READY_TIMEOUT`` seconds fails.
* ``GET /metrics``: the Prometheus text format (gitward/metrics.py), unless the metrics
  are served on their own address (``metrics_port``), which ``serve_metrics`` starts.

None of them needs a token: they say nothing secret (the metrics name organizations,
CA fingerprints and connector repositories; keep them off a public address with
``metrics_host``/``metrics_port``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from functools import partial
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from gitward import metrics
from gitward.errors import ConfigurationError
from gitward.services import monitoring
from gitward.services.context import Context

READY_TIMEOUT = 5.0

SSHProbe = Callable[[], bool]


def install(app: FastAPI, ctx: Context, ssh_listening: SSHProbe | None) -> None:
    app.state.ssh_listening = ssh_listening
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    if ctx.settings.metrics_port is None:
        app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    probe: SSHProbe | None = request.app.state.ssh_listening
    try:
        checks = await asyncio.wait_for(
            asyncio.to_thread(monitoring.database_checks, ctx), READY_TIMEOUT
        )
    except TimeoutError:
        checks = [
            monitoring.Check("database", False, f"no answer within {READY_TIMEOUT:g} s"),
            monitoring.Check("migrations", False, "unknown: the database did not answer"),
        ]
    checks.append(monitoring.ssh_check(probe is not None and probe()))
    failing = [c.name for c in checks if not c.ok]
    body = {
        "status": "not ready" if failing else "ready",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JSONResponse(body, status_code=503 if failing else 200)


async def scrape(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    body = await asyncio.to_thread(
        metrics.exposition, partial(monitoring.connector_success_ages, ctx)
    )
    return Response(body, media_type=metrics.CONTENT_TYPE)


class _Scrape(Collector):
    """Each collection is a fresh scrape (every process, the database's gauges)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ages = partial(monitoring.connector_success_ages, self._ctx)
        yield from metrics.scrape_registry(ages).collect()


class MetricsServer:
    """``/metrics`` on its own address (``metrics_host``:``metrics_port``), in a thread."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        host, port = self._ctx.settings.metrics_host, self._ctx.settings.metrics_port or 0
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scrape(self._ctx))
        try:
            self._server, self._thread = start_http_server(port, host, registry)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen for metrics on {host}:{port}: {exc.strerror or exc}"
            ) from exc

    @property
    def url(self) -> str:
        assert self._server is not None
        host = self._ctx.settings.metrics_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._server.server_port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
