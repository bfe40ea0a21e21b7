"""`gitward serve --workers 2` (issue 11): two processes on the same SSH and HTTP ports
(SO_REUSEPORT) under one supervisor, sharing the database.

Both workers serve (each log line names its worker), 40 simultaneous clones succeed, a
killed worker is restarted, the startup limit holds across the workers, SIGTERM stops them
all with exit status 0, and a port another server holds is refused at start.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitward.services import accounts, repositories
from gitward.services.context import open_context
from gitward.settings import Settings
from tests.e2e.harness import GITWARD, HOSTNAME, Client, Server, keygen, server_env
from tests.e2e.test_observability_e2e import scrape, value, wait_for
from tests.e2e.transfers import Shape, assert_clone_matches, commit_shape, new_work_tree

REPO = "crowd/app"
CLONES = 40


def _workers_server(base: Path, **settings: str) -> Server:
    env = server_env(**settings)
    env["GITWARD_WORKERS"] = "2"
    return Server(base / "data", env).start()


def _pids(server: Server) -> list[int]:
    out = (server.data_dir.parent / f"serve-{id(server)}.out").read_text()
    match = re.search(r"workers +: 2 processes \(pids (\d+), (\d+)\)", out)
    assert match, out
    return [int(match.group(1)), int(match.group(2))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Client]]:
    base = tmp_path_factory.mktemp("workers")
    server = _workers_server(base)
    admin = open_context(
        Settings(data_dir=server.data_dir, hostname=HOSTNAME, ssh_port=server.port)
    )
    try:
        home = base / "crowd"
        home.mkdir()
        client = Client(server, home, keygen(home / "id_key"))
        accounts.create_user(admin, "crowd")
        accounts.add_key(admin, "crowd", Path(f"{client.key}.pub").read_bytes())
        repositories.create_repo(admin, REPO)
        work = new_work_tree(client, "seed")
        assert client.git("remote", "add", "origin", client.url(REPO), cwd=work).code == 0
        commit_shape(client, work, Shape("files-150x16KB", 150, 16 * 1024), seed=1)
        pushed = client.git("push", "-q", "origin", "main", cwd=work)
        assert pushed.code == 0, pushed.err
        yield server, client
    finally:
        admin.engine.dispose()
        server.stop()


def _clone_many(client: Client, count: int, tag: str) -> None:
    with ThreadPoolExecutor(count) as pool:
        runs = list(pool.map(lambda i: client.clone(REPO, f"{tag}-{i}"), range(count)))
    failed = [r.err for r in runs if r.code != 0]
    assert failed == [], f"{len(failed)} of {count} clones failed; the first: {failed[0]}"
    assert_clone_matches(client.server, REPO, client.home / f"{tag}-0")


def _workers_that_served(log: str) -> set[str]:
    return set(re.findall(r"git_command .*\bworker=(\d+)", log))


def test_ok_both_workers_serve_forty_simultaneous_clones(two: tuple[Server, Client]) -> None:
    server, client = two
    pids = _pids(server)
    assert all(_alive(pid) for pid in pids)
    offset = server.log_size()
    _clone_many(client, CLONES, "clone")
    assert _workers_that_served(server.log_since(offset)) == {"0", "1"}


def test_ok_any_worker_answers_a_scrape_with_the_sum_over_both(
    two: tuple[Server, Client],
) -> None:
    """The supervisor gives the workers one Prometheus multiprocess directory: whichever
    worker the kernel hands a scrape to reports all 40 clones (each worker served some),
    not its own share."""
    server, _ = two
    ok = {"service": "git-upload-pack", "outcome": "ok"}
    wait_for(server, "gitward_git_operations_total", CLONES, **ok)
    for _ in range(8):  # new connections: the kernel spreads them over both workers
        assert value(scrape(server), "gitward_git_operations_total", **ok) == CLONES
    assert (
        value(
            scrape(server), "gitward_git_operations_total", service="git-receive-pack", outcome="ok"
        )
        == 1
    )  # the fixture's push


def test_ok_a_killed_worker_is_restarted(two: tuple[Server, Client]) -> None:
    server, client = two
    offset = server.log_size()
    victim = _pids(server)[1]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    restarted = None
    while time.monotonic() < deadline and restarted is None:
        log = server.log_since(offset)
        if f"pid={victim}" in log and "worker_exited" in log:
            found = re.search(r"worker_started +pid=(\d+) worker=1", log)
            restarted = int(found.group(1)) if found else None
        time.sleep(0.2)
    assert restarted is not None and restarted != victim, server.log_since(offset)
    assert _alive(restarted)
    time.sleep(8)  # the new worker starts its interpreter and listens
    offset = server.log_size()
    _clone_many(client, 20, "after-restart")
    assert _workers_that_served(server.log_since(offset)) == {"0", "1"}


def _greeted(port: int) -> bool:
    """A raw TCP connection that never authenticates: did the server send its banner?"""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(3)
    try:
        return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False
    finally:
        HELD.append(sock)


HELD: list[socket.socket] = []


def test_startup_limit_holds_across_workers(tmp_path: Path) -> None:
    """max_startups = 4 with two workers: each takes at most 2 unauthenticated
    connections, so at most 4 of 12 are greeted, however the kernel spreads them."""
    server = _workers_server(tmp_path, max_startups="4", login_grace_seconds="60")
    try:
        greeted = sum(_greeted(server.port) for _ in range(12))
        assert 2 <= greeted <= 4
    finally:
        for sock in HELD:
            sock.close()
        HELD.clear()
        server.stop()


def test_ok_sigterm_stops_every_worker_with_status_0(tmp_path: Path) -> None:
    server = _workers_server(tmp_path)
    pids = _pids(server)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_a_port_held_by_another_server_is_refused_at_start(tmp_path: Path) -> None:
    first = _workers_server(tmp_path / "first")
    try:
        env = server_env()
        env["GITWARD_WORKERS"] = "2"
        second = subprocess.run(
            [
                str(GITWARD),
                "serve",
                "--data-dir",
                str(tmp_path / "second"),
                "--ssh-port",
                str(first.port),
                "--http-port",
                "0",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert f"cannot listen for SSH on 127.0.0.1:{first.port}" in second.stderr
    finally:
        first.stop()


def test_fail_an_address_that_keeps_failing_is_refused_by_every_worker(tmp_path: Path) -> None:
    """Each worker charges a failure twice (README): once the failures of 127.0.0.1 are
    spread over both workers, both turn it away at connect, whichever takes it."""
    server = _workers_server(tmp_path, penalty_exempt="")
    try:
        home = tmp_path / "stranger"
        home.mkdir()
        stranger = Client(server, home, keygen(home / "id_key"))  # registered nowhere
        outcomes = []

        def refused_by(log: str) -> set[str]:
            return set(re.findall(r"connection_refused .*\bworker=(\d+)", log))

        # The kernel picks the worker per connection: go on until both have refused one
        # (three refusals in a row can all come from one worker).
        for _ in range(40):
            run = stranger.ssh()
            outcomes.append("refused" if "Permission denied" not in run.err else "failed")
            if refused_by(server.log()) == {"0", "1"} and outcomes[-3:] == ["refused"] * 3:
                break
        assert refused_by(server.log()) == {"0", "1"}, outcomes
        assert outcomes[-3:] == ["refused"] * 3, outcomes
        assert outcomes.index("refused") <= 8, outcomes  # one process would refuse at the 5th
    finally:
        server.stop()
