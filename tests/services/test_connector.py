"""The connector's services on SQLite and PostgreSQL: the index (incremental, idempotent,
force-push, deleted branches, containment), search, leases, keys at rest, webhooks.

The index is fed from a real bare mirror filled by a local ``git fetch`` (no SSH here: the
e2e tests cover that), exactly as a sync leaves it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import subprocess
from pathlib import Path

import pytest

from gitward.errors import AlreadyExists, ConfigurationError, GitwardError, KeyRejected
from gitward.git import mirror
from gitward.git.repos import _GIT_ENV
from gitward.services import ca_secret, connector_keys, connector_repos
from gitward.services.connector_index import IndexStats, index_mirror, search
from gitward.services.context import Context
from gitward.services.tokens import Unauthenticated
from gitward.store.db import transaction
from gitward.store.models import ConnectorKey
from gitward.store.queries import connector as q
from tests.e2e.connector_helpers import git, make_upstream
from tests.services.issuing_world import with_secret

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@dataclasses.dataclass
class Mirrored:
    ctx: Context
    repo_id: int
    upstream: Path
    work: Path
    mirror: Path

    def sync(self) -> IndexStats:
        subprocess.run(
            ["git", "fetch", "-q", "--prune", "origin"],
            cwd=self.mirror,
            env=_GIT_ENV,
            check=True,
            capture_output=True,
        )
        return index_mirror(self.ctx, self.repo_id, self.mirror)

    def commit(self, message: str) -> None:
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)

    def push(self, *refspecs: str, force: bool = False) -> None:
        git("push", "-q", *(["--force"] if force else []), "origin", *refspecs, cwd=self.work)


@pytest.fixture
def ctx(ctx: Context) -> Context:  # the shared fixture, with the CA secret set
    return with_secret(ctx)


@pytest.fixture
def mirrored(ctx: Context, tmp_path: Path) -> Mirrored:
    upstream = tmp_path / "up.git"
    work = make_upstream(upstream, ["PROJ-1 one", "PROJ-2 two\n\nmentions OPS-7 too"])
    added = connector_repos.add(ctx, "git@example.com:acme/up.git", name="up")
    path = connector_repos.mirror_path(ctx.settings, "up")
    mirror.ensure_mirror(path, str(upstream))
    with transaction(ctx.engine) as session:
        repo_id = q.repository_by_name(session, added.view.name).id  # type: ignore[union-attr]
    return Mirrored(ctx, repo_id, upstream, work, path)


def test_ok_first_index_then_incremental_and_idempotent(mirrored: Mirrored) -> None:
    first = mirrored.sync()
    assert first.new_commits == 2
    hit = search(mirrored.ctx, "OPS-7").commits
    assert [c.subject for c in hit] == ["PROJ-2 two"] and hit[0].branches == ["main"]
    assert hit[0].files_changed == 1 and hit[0].author_email == "ann@example.com"
    mirrored.commit("PROJ-3 three")
    mirrored.push("HEAD:main")
    again = mirrored.sync()
    assert again.new_commits == 1 and again.unreachable == 0
    # Nothing new: nothing read, nothing changed.
    assert mirrored.sync().new_commits == 0
    assert [c.subject for c in search(mirrored.ctx, "PROJ-3").commits] == ["PROJ-3 three"]


def test_ok_force_push_marks_unreachable_and_a_restore_marks_reachable(
    mirrored: Mirrored,
) -> None:
    mirrored.sync()
    old = git("rev-parse", "HEAD", cwd=mirrored.work).strip()
    git("reset", "-q", "--hard", "HEAD~1", cwd=mirrored.work)
    mirrored.commit("PROJ-2 rewritten")
    mirrored.push("HEAD:main", force=True)
    stats = mirrored.sync()
    assert stats.unreachable == 1
    hits = {c.subject: c for c in search(mirrored.ctx, "PROJ-2").commits}
    assert not hits["PROJ-2 two"].reachable and hits["PROJ-2 two"].branches == []
    assert hits["PROJ-2 rewritten"].reachable and hits["PROJ-2 rewritten"].branches == ["main"]
    # The old commit comes back on a branch: reachable again, on that branch.
    mirrored.push(f"{old}:refs/heads/restore")
    mirrored.sync()
    back = {c.subject: c for c in search(mirrored.ctx, "PROJ-2").commits}["PROJ-2 two"]
    assert back.reachable and back.branches == ["restore"]


def test_ok_branches_by_name_and_deleted_branches_disappear(mirrored: Mirrored) -> None:
    mirrored.push("HEAD:refs/heads/feature/PROJ-42-login")
    mirrored.sync()
    branches = search(mirrored.ctx, "PROJ-42").branches
    assert [(b.repository, b.name) for b in branches] == [("up", "feature/PROJ-42-login")]
    assert search(mirrored.ctx, "PROJ-1").commits[0].branches == ["feature/PROJ-42-login", "main"]
    mirrored.push(":refs/heads/feature/PROJ-42-login")
    mirrored.sync()
    assert search(mirrored.ctx, "PROJ-42").branches == []
    assert search(mirrored.ctx, "PROJ-1").commits[0].branches == ["main"]


def test_ok_project_allowlist(ctx: Context, tmp_path: Path) -> None:
    settings = ctx.settings.model_copy(update={"connector_project_keys": "OPS"})
    scoped = dataclasses.replace(ctx, settings=settings)
    upstream = tmp_path / "scoped.git"
    make_upstream(upstream, ["PROJ-1 and OPS-2"])
    connector_repos.add(scoped, "git@example.com:scoped.git")
    path = connector_repos.mirror_path(settings, "scoped")
    mirror.ensure_mirror(path, str(upstream))
    git("fetch", "-q", "origin", cwd=path)
    with transaction(ctx.engine) as session:
        repo_id = q.repository_by_name(session, "scoped").id  # type: ignore[union-attr]
    index_mirror(scoped, repo_id, path)
    assert search(scoped, "PROJ-1").commits == [] and len(search(scoped, "OPS-2").commits) == 1


def test_ok_removing_a_repository_drops_its_index(mirrored: Mirrored) -> None:
    mirrored.sync()
    connector_repos.remove(mirrored.ctx, "up")
    assert search(mirrored.ctx, "PROJ-1").commits == [] and not mirrored.mirror.exists()


def test_ok_only_one_claimant_gets_the_lease(ctx: Context) -> None:
    connector_repos.add(ctx, "git@example.com:a.git")
    with transaction(ctx.engine) as session:
        repo_id = q.repository_by_name(session, "a").id  # type: ignore[union-attr]
        assert q.due_repositories(session, NOW, 10) == [repo_id]
    until = NOW + dt.timedelta(minutes=5)
    with transaction(ctx.engine) as one, transaction(ctx.engine) as two:
        assert q.claim_lease(one, repo_id, "frontend-1", NOW, until)
    with transaction(ctx.engine) as two:
        assert not q.claim_lease(two, repo_id, "frontend-2", NOW, until)
        assert q.due_repositories(two, NOW, 10) == []
    later = until + dt.timedelta(seconds=1)  # an expired lease (a crashed frontend) is free
    with transaction(ctx.engine) as two:
        assert q.claim_lease(two, repo_id, "frontend-2", later, later + dt.timedelta(minutes=5))


def test_ok_trigger_makes_it_due_and_webhooks_are_checked(ctx: Context) -> None:
    added = connector_repos.add(ctx, "ssh://git@example.com:2222/acme/hook.git", interval="1h")
    assert added.view.interval_seconds == 3600 and added.view.host_port == "example.com:2222"
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(added.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    connector_repos.verify_webhook(ctx, "hook", body, good)
    for bad_name, signature in (
        ("hook", good[:-2] + "00"),
        ("hook", "sha1=abc"),
        ("nope", good),
        ("hook", "sha256=ÿ"),
    ):
        with pytest.raises(Unauthenticated, match="signature is not valid"):
            connector_repos.verify_webhook(ctx, bad_name, body, signature)
    assert connector_repos.request_sync(ctx, "hook").next_attempt_at == ctx.now()
    with pytest.raises(AlreadyExists):
        connector_repos.add(ctx, "git@example.com:other/hook.git")


def test_ok_key_is_sealed_at_rest_and_only_opens_as_the_connectors_key(ctx: Context) -> None:
    status = connector_keys.generate(ctx)
    assert status.active is not None and status.active.key_type == "ssh-ed25519"
    with transaction(ctx.engine) as session:
        row = session.query(ConnectorKey).one()
        sealed, fingerprint = row.sealed_private, row.fingerprint
    assert b"PRIVATE KEY" not in sealed.encode() and sealed.startswith("v1:")
    secret = connector_keys.load_secret(ctx.settings)
    # Not as a managed CA key (another HKDF info), not under another fingerprint.
    with pytest.raises(ConfigurationError):
        ca_secret.open_sealed(secret, sealed, fingerprint)
    with pytest.raises(ConfigurationError):
        ca_secret.open_sealed(
            secret, sealed, "connector-key:SHA256:other", info=connector_keys.SEAL_INFO
        )
    loaded = connector_keys.load_identities(ctx).active
    assert loaded is not None and loaded.fingerprint == fingerprint
    assert "PRIVATE" not in repr(loaded.identity)


def test_ok_a_new_key_with_repositories_is_pending_without_them_replaces(ctx: Context) -> None:
    first = connector_keys.generate(ctx).active
    second = connector_keys.generate(ctx)  # no repositories: nothing to test it on
    assert second.pending is None and second.active is not None
    assert first is not None and second.active.fingerprint != first.fingerprint
    connector_repos.add(ctx, "git@example.com:x.git")
    third = connector_keys.generate(ctx, "rsa", 2048)
    assert third.pending is not None and third.old_key_only == ["x"]
    with pytest.raises(KeyRejected, match="already the connector's"):
        _reimport(ctx)


def _reimport(ctx: Context) -> None:
    from gitward.keys.api import export_private_key, load_private_key

    loaded = connector_keys.load_identities(ctx).active
    assert loaded is not None
    key = load_private_key(loaded.identity.private_openssh)
    connector_keys.import_key(ctx, export_private_key(key, "pkcs8"), None)


def test_fail_renewal_errors_are_recorded_not_raised(ctx: Context) -> None:
    connector_keys.generate(ctx)
    with transaction(ctx.engine) as session:
        row = session.query(ConnectorKey).one()
        row.certificate_valid_after = NOW - dt.timedelta(minutes=50)
        row.certificate_valid_before = NOW + dt.timedelta(minutes=10)
        row.certify_server = "http://127.0.0.1:9"  # nothing listens there
        row.certify_token_sealed = ca_secret.seal(
            connector_keys.load_secret(ctx.settings),
            b"gwp_x",
            f"connector-certify-token:{row.fingerprint}",
            info=connector_keys.SEAL_INFO,
        )
    assert connector_keys.renew_if_due(ctx) is False
    shown = connector_keys.status(ctx).active
    assert shown is not None and "cannot reach" in (shown.certificate_renewal_error or "")


def test_all_errors_are_gitward_errors(ctx: Context) -> None:
    for bad in ("https://github.com/a/b", "git@host:-x", "ssh://h/"):
        with pytest.raises(GitwardError):
            connector_repos.add(ctx, bad)


def test_ok_an_old_tip_gone_from_the_mirror_is_dropped_not_fatal(mirrored: Mirrored) -> None:
    mirrored.sync()
    with transaction(mirrored.ctx.engine) as session:
        for _, (branch_id, _sha) in q.branches_of(session, mirrored.repo_id).items():
            q.upsert_branch(session, mirrored.repo_id, "main", "ab" * 20, branch_id)
    mirrored.commit("PROJ-5 after a gc")
    mirrored.push("HEAD:main")
    stats = mirrored.sync()  # re-reads what the pruned tip covered, inserts nothing twice
    assert stats.new_commits == 3
    assert [c.subject for c in search(mirrored.ctx, "PROJ-5").commits] == ["PROJ-5 after a gc"]
    assert search(mirrored.ctx, "PROJ-1").commits[0].branches == ["main"]


def test_ok_frontends_racing_for_one_lease_get_it_once(ctx: Context) -> None:
    from concurrent.futures import ThreadPoolExecutor

    connector_repos.add(ctx, "git@example.com:race.git")
    with transaction(ctx.engine) as session:
        repo_id = q.repository_by_name(session, "race").id  # type: ignore[union-attr]
    until = NOW + dt.timedelta(minutes=5)

    def claim(n: int) -> bool:
        with transaction(ctx.engine) as session:
            return q.claim_lease(session, repo_id, f"frontend-{n}", NOW, until)

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(claim, range(8))) == [False] * 7 + [True]


def test_fail_a_crashing_sync_is_recorded_and_frees_its_lease(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a walkthrough: an exception that was not a GitwardError left the row
    leased, so every later sync said 'another process is syncing it' for an hour."""
    from gitward.services import connector_sync

    connector_keys.generate(ctx)
    connector_repos.add(ctx, "git@example.com:acme/app.git", name="app")

    def crash(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(connector_sync, "_fetch_and_index", crash)
    [result] = connector_sync.sync_repositories(ctx, ["app"], owner="me")
    assert (result.ok, result.skipped, result.failure) == (False, False, "other")
    assert "unexpectedly" in (result.detail or "")
    with transaction(ctx.engine) as session:
        row = q.repository_by_name(session, "app")
        assert row is not None and row.lease_owner is None
        assert (row.last_outcome, row.consecutive_failures) == ("failed", 1)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(connector_sync, "_fetch_and_index", interrupted)
    with pytest.raises(KeyboardInterrupt):
        connector_sync.sync_repositories(ctx, ["app"], owner="me")
    with transaction(ctx.engine) as session:
        row = q.repository_by_name(session, "app")
        assert row is not None and row.lease_owner is None
