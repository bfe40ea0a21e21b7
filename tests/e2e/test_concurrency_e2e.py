"""Many clients at once (issue 9): 20 simultaneous pushes to one repository and to 20
repositories, and 100 simultaneous clones from one address on the default settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitward.services import accounts, repositories
from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.e2e.harness import HOSTNAME, Client, Run, Server, keygen, server_env
from tests.e2e.transfers import (
    SMALL,
    Shape,
    assert_clone_matches,
    assert_fsck_clean,
    assert_server_holds,
    commit_shape,
    new_work_tree,
    server_repo,
)

MakeClient = Callable[..., Client]
PUSHERS = 20
# What git prints when another push moved the ref first: the ref lock held or lost, or
# the client's own fast-forward check after the remote moved.
LOST_RACE = ("cannot lock ref", "failed to update ref", "fetch first", "non-fast-forward")


@pytest.fixture(scope="module")
def crowd(admin: Context, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Client:
    """One user whose key every simultaneous client uses."""
    home = tmp_path_factory.mktemp("crowd")
    client = Client(server, home, keygen(home / "id_key"))
    accounts.create_user(admin, "crowd")
    accounts.add_key(admin, "crowd", Path(f"{client.key}.pub").read_bytes())
    return client


def _seeded_clone(client: Client, admin: Context, repo: str, copies: int) -> list[Path]:
    """Create ``repo`` with one commit; ``copies`` clones of it, ready to commit on."""
    repositories.create_repo(admin, repo)
    seed = new_work_tree(client, f"seed-{repo.replace('/', '_')}")
    assert client.git("remote", "add", "origin", client.url(repo), cwd=seed).code == 0
    commit_shape(client, seed, SMALL, seed=0)
    assert client.git("push", "-q", "origin", "main", cwd=seed).code == 0
    works = []
    for i in range(copies):
        work = client.home / f"{repo.replace('/', '_')}-{i}"
        assert client.git("clone", "-q", client.url(repo), str(work)).code == 0
        works.append(work)
    return works


def _push_all(client: Client, works: list[Path]) -> list[Run]:
    with ThreadPoolExecutor(len(works)) as pool:
        return list(pool.map(lambda w: client.git("push", "origin", "main", cwd=w), works))


def test_ok_twenty_simultaneous_pushes_to_one_repository(
    server: Server, admin: Context, crowd: Client
) -> None:
    """Each push lands or is refused by git's ref lock with a clear message; the final
    ref is the commit of the one that landed, and nothing is half-written."""
    repo = "crowd/one-for-all"
    works = _seeded_clone(crowd, admin, repo, PUSHERS)
    shape = Shape("sibling", 120, 16 * 1024)  # index-pack on the server, 2 MB each
    commits = [commit_shape(crowd, work, shape, seed=i + 1) for i, work in enumerate(works)]
    results = _push_all(crowd, works)
    landed = [sha for sha, r in zip(commits, results, strict=True) if r.code == 0]
    refused = [r for r in results if r.code != 0]
    assert len(landed) == 1  # siblings of one parent: only the first fast-forward can win
    for run in refused:
        assert any(reason in run.err for reason in LOST_RACE), run.err
    assert_server_holds(server, repo, landed[0])  # fsck clean, no quarantine left


def test_ok_twenty_simultaneous_pushes_to_twenty_repositories(
    server: Server, admin: Context, crowd: Client
) -> None:
    works = [_seeded_clone(crowd, admin, f"crowd/each-{i}", 1)[0] for i in range(PUSHERS)]
    shape = Shape("mixed", 110, 24 * 1024)
    commits = [commit_shape(crowd, work, shape, seed=i + 1) for i, work in enumerate(works)]
    results = _push_all(crowd, works)
    assert [r.err for r in results if r.code != 0] == []
    for i, sha in enumerate(commits):
        assert_server_holds(server, f"crowd/each-{i}", sha)


@pytest.fixture
def default_server(tmp_path: Path) -> Iterator[Server]:
    """A server on the default connection limits: no address exempt from them."""
    srv = Server(tmp_path / "data", server_env(penalty_exempt="")).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_ok_hundred_simultaneous_clones_from_one_address_on_defaults(
    default_server: Server, tmp_path: Path
) -> None:
    ctx = open_context(Settings(data_dir=default_server.data_dir, hostname=HOSTNAME))
    try:
        home = tmp_path / "ci-farm"
        home.mkdir()
        client = Client(default_server, home, keygen(home / "id_key"))
        accounts.create_user(ctx, "farm")
        accounts.add_key(ctx, "farm", Path(f"{client.key}.pub").read_bytes())
        repo = "farm/app"
        _seeded_clone(client, ctx, repo, 0)
        with ThreadPoolExecutor(100) as pool:
            runs = list(pool.map(lambda i: client.clone(repo, f"clone-{i}"), range(100)))
        assert [r.err for r in runs if r.code != 0] == []
        for i in range(0, 100, 25):
            assert_clone_matches(default_server, repo, home / f"clone-{i}")
        assert_fsck_clean(server_repo(default_server, repo))
    finally:
        ctx.engine.dispose()

