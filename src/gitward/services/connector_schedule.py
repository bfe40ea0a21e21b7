"""The connector's scheduler inside ``gitward serve``: every repository at its interval
(with jitter and backoff, see connector/schedule.py), the trigger endpoint's "sync now",
and the renewal of the connector's certificate.

A thread wakes every ``tick`` seconds, renews the certificate when due, and, when no batch
is running, takes the due repositories (at most ``4 x connector_max_parallel``) and syncs
them as one batch in a worker thread: one ssh session, the key decrypted once. Each
repository is claimed through its lease first, so frontends sharing a database split the
work instead of doubling it. Errors are logged with their cause and never stop the loop.
"""

from __future__ import annotations

import threading
from typing import Final

import structlog

from gitward.errors import GitwardError
from gitward.git.outbound import sweep_sessions
from gitward.services import connector_keys, connector_repos, connector_sync
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.models import ConnectorRepository
from gitward.store.queries import connector as q

log = structlog.get_logger("gitward.connector")

DEFAULT_TICK: Final = 5.0


class ConnectorScheduler:
    def __init__(self, ctx: Context, *, tick: float = DEFAULT_TICK) -> None:
        self._ctx = ctx
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batch: threading.Thread | None = None
        self._owner = connector_sync.lease_owner()
        self._last_error: str | None = None

    def start(self) -> None:
        sweep_sessions(connector_repos.run_dir(self._ctx.settings))
        self._thread = threading.Thread(target=self._run, name="gitward-connector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._batch):
            if thread is not None:
                # A fetch in flight is bounded by connector_fetch_timeout; serve exits
                # without waiting that long (the daemon thread dies with the process and
                # the lease expires).
                thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._tick)

    def run_once(self) -> None:
        try:
            connector_keys.renew_if_due(self._ctx)
        except Exception as exc:  # never let one round stop the loop; no traceback spam
            log.error("connector_renewal_error", cause=f"{type(exc).__name__}: {exc}")
        if self._batch is not None and self._batch.is_alive():
            return
        try:
            targets = self._due()
        except GitwardError as exc:
            log.error("connector_schedule_error", cause=exc.cause)
            return
        if targets:
            self._batch = threading.Thread(
                target=self._sync, args=(targets,), name="gitward-connector-sync", daemon=True
            )
            self._batch.start()

    def _due(self) -> list[connector_sync.Target]:
        ctx = self._ctx
        limit = 4 * ctx.settings.connector_max_parallel
        with transaction(ctx.engine) as session:
            ids = q.due_repositories(session, ctx.now(), limit)
            rows = [session.get(ConnectorRepository, i) for i in ids]
            return [connector_sync.Target.of(r) for r in rows if r is not None]

    def _sync(self, targets: list[connector_sync.Target]) -> None:
        try:
            for result in connector_sync.sync_targets(self._ctx, targets, owner=self._owner):
                if not result.skipped:
                    log.info(
                        "connector_synced",
                        repository=result.repository,
                        outcome="ok" if result.ok else "failed",
                        kind=result.failure,
                        new_commits=result.new_commits,
                        seconds=round(result.seconds, 2),
                    )
        except Exception as exc:
            # Said once per distinct cause: a deployment without its CA secret would
            # otherwise repeat it every few seconds.
            cause = f"{type(exc).__name__}: {getattr(exc, 'cause', exc)}"
            if cause != self._last_error:
                log.error("connector_sync_batch_error", cause=cause)
            self._last_error = cause
        else:
            self._last_error = None
