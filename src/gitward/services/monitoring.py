"""What monitoring reads from the database: readiness checks and the connector's ages.

``readiness(ctx, ssh_listening=...)`` answers a load balancer's or systemd's question "may
this process take traffic?" with one ``Check`` per condition (database reachable, schema
at this build's migration head, SSH listening); the transport turns a failing one into a
503 that names it. ``connector_success_ages(ctx)`` feeds the
``gitward_connector_last_success_age_seconds`` gauge at scrape time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gitward.errors import GitwardError
from gitward.services.context import Context
from gitward.store import health
from gitward.store.db import transaction
from gitward.store.queries import connector as q


@dataclass(frozen=True)
class Check:
    name: str  # "database", "migrations", "ssh"
    ok: bool
    detail: str


def database_checks(ctx: Context) -> list[Check]:
    """Reachable, and migrated to the revision this build expects (an upgrade half done,
    or a newer frontend's migration on a shared database, is not ready)."""
    try:
        revision = health.schema_revision(ctx.engine)
    except GitwardError as exc:
        return [
            Check("database", False, exc.message),
            Check("migrations", False, "unknown: the database is not reachable"),
        ]
    head = health.head_revision()
    migrated = revision == head
    detail = f"at {head}" if migrated else f"at {revision or 'nothing'}, this build needs {head}"
    return [Check("database", True, "reachable"), Check("migrations", migrated, detail)]


def ssh_check(listening: bool) -> Check:
    return Check("ssh", listening, "listening" if listening else "not listening")


def connector_success_ages(ctx: Context) -> list[tuple[str, float]]:
    """(repository, seconds since its last successful sync), math.inf for never."""
    now = ctx.now()
    try:
        with transaction(ctx.engine) as session:
            rows = [(r.name, r.last_success_at) for r in q.list_repositories(session)]
    except GitwardError:
        return []  # the scrape still answers; /readyz names the database
    return [(name, (now - at).total_seconds() if at is not None else math.inf) for name, at in rows]
