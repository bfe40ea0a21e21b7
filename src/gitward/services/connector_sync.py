"""``connector test`` and ``connector sync``: reach each repository with the connector's
key over pinned host keys, say what happened in one line with its fix, mirror and index.

Every connection goes through one ``ssh_session`` (git/outbound.py) per batch, so the key
is decrypted once for a sync of a hundred repositories. Before connecting, a host without
pins is refused without a connection of git's (its keys are scanned only to show them);
after a host-key refusal by ssh, the host is scanned to tell "unknown" from "changed" and
to name both fingerprints. Nothing is fetched from a host whose key is not pinned.

Concurrency: several repositories at once (``connector_max_parallel``), each under a lease
on its row (store/queries/connector.claim_lease) so that two frontends sharing one
PostgreSQL database, or serve and a CLI ``sync``, never fetch the same repository at once.
The lease lives ``connector_fetch_timeout`` + 5 minutes: longer than any fetch can run
(a fetch is killed at its timeout), so it needs no heartbeat, and a crashed frontend's
repositories are taken over when it expires.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import random
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from gitward import metrics
from gitward.connector.failures import FailureKind, FixFacts, classify, fix_for, org_url_in
from gitward.connector.host_keys import PinStatus, decide
from gitward.connector.schedule import next_attempt
from gitward.connector.urls import format_host_port
from gitward.errors import GitwardError
from gitward.git import mirror
from gitward.git.outbound import Identity, SSHSession, ssh_session
from gitward.services import connector_hosts, connector_keys, connector_repos
from gitward.services.connector_index import IndexStats, index_mirror
from gitward.services.context import Context
from gitward.services.views import View
from gitward.store.db import transaction
from gitward.store.models import ConnectorRepository
from gitward.store.queries import connector as q

log = structlog.get_logger("gitward.connector")

LEASE_MARGIN: Final = 300


@dataclass(frozen=True)
class Target:
    id: int
    name: str
    url: str
    host: str
    port: int
    interval: int
    failures: int
    default_branch: str | None

    @property
    def host_port(self) -> str:
        return format_host_port(self.host, self.port)

    @classmethod
    def of(cls, row: ConnectorRepository) -> Target:
        return cls(
            row.id,
            row.name,
            row.url,
            row.host,
            row.port,
            row.interval_seconds,
            row.consecutive_failures,
            row.default_branch,
        )


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    detail: str
    fix: str
    presented: tuple[str, ...] = ()
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict(View):
    """One repository's ``connector test`` answer."""

    repository: str
    ok: bool
    ref_count: int | None = None
    default_branch: str | None = None
    failure: str | None = None  # the FailureKind's value
    detail: str | None = None
    fix: str | None = None
    host_key_presented: list[str] = field(default_factory=list)
    host_key_pinned: list[str] = field(default_factory=list)
    new_key_accepted: bool | None = None

    def line(self) -> str:
        if self.ok:
            branch = self.default_branch or "none"
            text = f"{self.repository}: ok ({self.ref_count} refs, default branch {branch})"
            if self.new_key_accepted is not None:
                text += "; new key " + ("accepted" if self.new_key_accepted else "NOT accepted")
            return text
        return f"{self.repository}: {self.failure}: {self.detail}; fix: {self.fix}"


@dataclass(frozen=True)
class SyncResult(View):
    repository: str
    ok: bool
    skipped: bool = False  # another process holds its lease
    failure: str | None = None
    detail: str | None = None
    fix: str | None = None
    new_commits: int = 0
    unreachable: int = 0
    branches: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if self.skipped:
            return f"{self.repository}: skipped (another process is syncing it)"
        if self.ok:
            return (
                f"{self.repository}: ok ({self.branches} branches, {self.new_commits} new "
                f"commits indexed, {self.unreachable} now unreachable, {self.seconds:.1f} s)"
            )
        return f"{self.repository}: {self.failure}: {self.detail}; fix: {self.fix}"


class SyncProgress(Protocol):
    def started(self, name: str) -> None: ...

    def advanced(self, name: str, phase: str, done: int, total: int) -> None: ...

    def finished(self, result: SyncResult) -> None: ...


class _Quiet:
    def started(self, name: str) -> None:
        pass

    def advanced(self, name: str, phase: str, done: int, total: int) -> None:
        pass

    def finished(self, result: SyncResult) -> None:
        pass


def _targets(ctx: Context, names: Sequence[str]) -> list[Target]:
    with transaction(ctx.engine) as session:
        if names:
            return [Target.of(connector_repos.require_repository(session, n)) for n in names]
        return [Target.of(r) for r in q.list_repositories(session)]


def _remote_timeout(ctx: Context) -> float:
    # ls-remote: the handshake is bounded by ConnectTimeout; the listing itself is small.
    return float(ctx.settings.connector_connect_timeout * 3 + 30)


@contextlib.contextmanager
def _session(ctx: Context, identities: Sequence[Identity]) -> Iterator[SSHSession]:
    with ssh_session(
        connector_repos.run_dir(ctx.settings),
        identities,
        connector_hosts.known_hosts_for(ctx),
        connect_timeout=ctx.settings.connector_connect_timeout,
    ) as session:
        yield session


def _no_key_failure() -> Failure:
    fix = fix_for(FailureKind.NO_KEY, FixFacts("", ""))
    return Failure(FailureKind.NO_KEY, "the connector has no key", fix)


def _host_failure(ctx: Context, target: Target, public: str) -> Failure | None:
    """Refuse, before any connection of git's, a host whose key is not pinned (or whose
    key changed, when ssh already said so): scan it to show what it presents."""
    pins = connector_hosts.pinned_keys(ctx, target.host, target.port)
    if pins:
        return None
    return _scanned_failure(ctx, target, public)


def _scanned_failure(ctx: Context, target: Target, public: str) -> Failure:
    timeout = ctx.settings.connector_connect_timeout
    try:
        presented = connector_hosts.scan_keys(target.host, target.port, timeout)
    except connector_hosts.HostUnreachable as exc:
        facts = FixFacts(target.host_port, public, timeout_seconds=timeout)
        return Failure(exc.kind, exc.message, fix_for(exc.kind, facts))
    pins = connector_hosts.pinned_keys(ctx, target.host, target.port)
    decision = decide(target.host_port, presented, pins)
    kind = (
        FailureKind.HOST_KEY_CHANGED
        if decision.status is PinStatus.CHANGED
        else FailureKind.HOST_KEY_UNKNOWN
    )
    if decision.status is PinStatus.PINNED:
        # ssh refused although a pinned key is presented: a key of another type was chosen.
        kind = FailureKind.HOST_KEY_UNKNOWN
    facts = FixFacts(target.host_port, public, presented=decision.presented, pinned=decision.pinned)
    detail = f"{target.host_port} presents {', '.join(decision.presented)}" + (
        f", pinned {', '.join(decision.pinned)}" if decision.pinned else ", nothing pinned"
    )
    return Failure(kind, detail, fix_for(kind, facts), decision.presented, decision.pinned)


def _classified(ctx: Context, target: Target, result: mirror.RemoteResult, public: str) -> Failure:
    found = classify(result.status, result.stderr)
    if found.kind in (FailureKind.HOST_KEY_UNKNOWN, FailureKind.HOST_KEY_CHANGED):
        return _scanned_failure(ctx, target, public)
    facts = FixFacts(
        target.host_port,
        public,
        timeout_seconds=ctx.settings.connector_connect_timeout,
        org_url_hint=org_url_in(result.stderr),
    )
    return Failure(found.kind, found.detail, fix_for(found.kind, facts))


# ---- test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestReport:
    verdicts: list[Verdict]
    new_key_promoted: bool

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def test_repositories(ctx: Context, names: Sequence[str] = ()) -> TestReport:
    targets = _targets(ctx, names)
    keys = connector_keys.load_identities(ctx)
    if keys.active is None:
        failure = _no_key_failure()
        return TestReport(
            [
                Verdict(t.name, False, failure="no_key", detail=failure.detail, fix=failure.fix)
                for t in targets
            ],
            False,
        )
    public = keys.active.public_line
    pool = ThreadPoolExecutor(ctx.settings.connector_max_parallel)
    with pool, _session(ctx, [keys.active.identity]) as active:
        verdicts = list(pool.map(lambda t: _test_one(ctx, t, active, public), targets))
        if keys.pending is not None:
            with _session(ctx, [keys.pending.identity]) as pending:
                accepted = list(pool.map(lambda t: _accepts(ctx, t, pending), targets))
            _record_pending(ctx, targets, accepted)
            verdicts = [
                dataclasses.replace(v, new_key_accepted=a)
                for v, a in zip(verdicts, accepted, strict=True)
            ]
    # Only a test of every repository may retire the old key.
    promoted = (
        keys.pending is not None
        and not names
        and connector_keys.promote_if_accepted_everywhere(ctx)
    )
    return TestReport(verdicts, promoted)


def _test_one(ctx: Context, target: Target, session: SSHSession, public: str) -> Verdict:
    failure = _host_failure(ctx, target, public)
    refs: mirror.RemoteRefs | None = None
    if failure is None:
        result = mirror.ls_remote(
            target.url,
            mirror.env_with_ssh(session.git_ssh_command),
            _remote_timeout(ctx),
            session.directory,
        )
        if result.ok:
            refs = mirror.parse_ls_remote(result.stdout)
        else:
            failure = _classified(ctx, target, result, public)
    if refs is not None:
        _remember_refs(ctx, target, refs)
        return Verdict(target.name, True, refs.ref_count, refs.default_branch)
    assert failure is not None
    log.info(
        "connector_test_failed",
        repository=target.name,
        kind=failure.kind.value,
        detail=failure.detail,
    )
    return Verdict(
        target.name,
        False,
        failure=failure.kind.value,
        detail=failure.detail,
        fix=failure.fix,
        host_key_presented=list(failure.presented),
        host_key_pinned=list(failure.pinned),
    )


def _accepts(ctx: Context, target: Target, session: SSHSession) -> bool:
    if not connector_hosts.pinned_keys(ctx, target.host, target.port):
        return False
    result = mirror.ls_remote(
        target.url,
        mirror.env_with_ssh(session.git_ssh_command),
        _remote_timeout(ctx),
        session.directory,
    )
    return result.ok


def _record_pending(ctx: Context, targets: Sequence[Target], accepted: Sequence[bool]) -> None:
    with transaction(ctx.engine) as db:
        for target, ok in zip(targets, accepted, strict=True):
            row = db.get(ConnectorRepository, target.id)
            if row is not None:
                row.pending_key_accepted = ok


# ---- sync -----------------------------------------------------------------------------


def lease_owner() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def sync_repositories(
    ctx: Context,
    names: Sequence[str] = (),
    *,
    progress: SyncProgress | None = None,
    owner: str | None = None,
) -> list[SyncResult]:
    """Fetch and index each repository (all of them by default), several at once; one's
    failure never stops the others."""
    targets = _targets(ctx, names)
    return sync_targets(ctx, targets, progress=progress, owner=owner)


def sync_targets(
    ctx: Context,
    targets: Sequence[Target],
    *,
    progress: SyncProgress | None = None,
    owner: str | None = None,
) -> list[SyncResult]:
    watcher = progress or _Quiet()
    who = owner or lease_owner()
    keys = connector_keys.load_identities(ctx)
    if keys.active is None and keys.pending is None:
        failure = _no_key_failure()
        results = [
            SyncResult(t.name, False, failure="no_key", detail=failure.detail, fix=failure.fix)
            for t in targets
        ]
        for target, result in zip(targets, results, strict=True):
            _record(ctx, target, who, result, claimed=False)
            metrics.connector_sync_finished(result.failure or "other")
            watcher.finished(result)
        return results
    shown = keys.active or keys.pending
    assert shown is not None
    public = shown.public_line
    with (
        _session(ctx, keys.offered) as session,
        ThreadPoolExecutor(ctx.settings.connector_max_parallel) as pool,
    ):
        return list(pool.map(lambda t: _sync_one(ctx, t, session, public, who, watcher), targets))


def _sync_one(
    ctx: Context,
    target: Target,
    session: SSHSession,
    public: str,
    owner: str,
    watcher: SyncProgress,
) -> SyncResult:
    started = ctx.now()
    lease = ctx.settings.connector_fetch_timeout + LEASE_MARGIN
    lease_until = started + dt.timedelta(seconds=lease)
    with transaction(ctx.engine) as db:
        claimed = q.claim_lease(db, target.id, owner, started, lease_until)
    if not claimed:
        result = SyncResult(target.name, False, skipped=True)
        watcher.finished(result)
        return result
    watcher.started(target.name)
    clock = time.monotonic()
    try:
        result = _fetch_and_index(ctx, target, session, public, watcher)
    except GitwardError as exc:
        log.error("connector_sync_error", repository=target.name, cause=exc.cause)
        result = _unexpected(target, public, exc.message)
    except Exception:
        # A bug must neither stop the other repositories nor leave this one leased (its
        # next sync would be skipped until the lease expires): a failure like any other.
        log.exception("connector_sync_crashed", repository=target.name)
        result = _unexpected(target, public, "the sync failed unexpectedly (see the log)")
    except BaseException:  # interrupted (Ctrl-C, a stopping server): free the lease
        with transaction(ctx.engine) as db:
            q.release_lease(db, target.id, owner)
        raise
    result = dataclasses.replace(result, seconds=time.monotonic() - clock)
    _record(ctx, target, owner, result, claimed=True, started=started)
    metrics.connector_sync_finished("ok" if result.ok else result.failure or "other")
    watcher.finished(result)
    return result


def _unexpected(target: Target, public: str, detail: str) -> SyncResult:
    return SyncResult(
        target.name,
        False,
        failure=FailureKind.OTHER.value,
        detail=detail,
        fix=fix_for(FailureKind.OTHER, FixFacts(target.host_port, public)),
    )


def _fetch_and_index(
    ctx: Context, target: Target, session: SSHSession, public: str, watcher: SyncProgress
) -> SyncResult:
    failure = _host_failure(ctx, target, public)
    if failure is not None:
        return _failed(target, failure)
    path = connector_repos.mirror_path(ctx.settings, target.name)
    created = mirror.ensure_mirror(path, target.url)
    env = mirror.env_with_ssh(session.git_ssh_command)
    if created or target.default_branch is None:
        listing = mirror.ls_remote(target.url, env, _remote_timeout(ctx), session.directory)
        if not listing.ok:
            return _failed(target, _classified(ctx, target, listing, public))
        refs = mirror.parse_ls_remote(listing.stdout)
        _remember_refs(ctx, target, refs)
        if refs.default_branch:
            mirror.set_default_branch(path, refs.default_branch)
    fetched = mirror.fetch(
        path,
        env,
        float(ctx.settings.connector_fetch_timeout),
        on_progress=lambda phase, done, total: watcher.advanced(target.name, phase, done, total),
    )
    if not fetched.ok:
        return _failed(target, _classified(ctx, target, fetched, public))
    watcher.advanced(target.name, "Indexing", 0, 0)
    stats: IndexStats = index_mirror(ctx, target.id, path)
    return SyncResult(
        target.name,
        True,
        new_commits=stats.new_commits,
        unreachable=stats.unreachable,
        branches=stats.branches,
    )


def _remember_refs(ctx: Context, target: Target, refs: mirror.RemoteRefs) -> None:
    with transaction(ctx.engine) as db:
        row = db.get(ConnectorRepository, target.id)
        if row is not None:
            row.ref_count, row.default_branch = refs.ref_count, refs.default_branch


def _failed(target: Target, failure: Failure) -> SyncResult:
    log.info(
        "connector_sync_failed",
        repository=target.name,
        kind=failure.kind.value,
        detail=failure.detail,
    )
    return SyncResult(
        target.name, False, failure=failure.kind.value, detail=failure.detail, fix=failure.fix
    )


def _record(
    ctx: Context,
    target: Target,
    owner: str,
    result: SyncResult,
    *,
    claimed: bool,
    started: dt.datetime | None = None,
) -> None:
    """The outcome on the repository's row, its next attempt, and the lease released."""
    now = ctx.now()
    with transaction(ctx.engine) as db:
        row = db.get(ConnectorRepository, target.id)
        if row is None:
            return
        if claimed and row.lease_owner != owner:
            log.warning("connector_lease_lost", repository=target.name)
        row.last_attempt_at = started or now
        if result.ok:
            row.last_outcome, row.last_success_at = "ok", now
            row.last_error_kind = row.last_error = None
            row.consecutive_failures = 0
        else:
            row.last_outcome = "failed"
            row.last_error_kind = result.failure
            row.last_error = (result.detail or "")[:2000]
            row.consecutive_failures += 1
        row.next_attempt_at = next_attempt(
            now,
            row.interval_seconds,
            row.consecutive_failures,
            ctx.settings.connector_max_backoff,
            random.random(),
        )
        if claimed and row.lease_owner == owner:
            row.lease_owner = row.lease_expires_at = None
        ctx.audit(
            db,
            "connector.sync",
            row.name,
            outcome="ok" if result.ok else "failed",
            kind=result.failure,
            new_commits=result.new_commits,
        )
