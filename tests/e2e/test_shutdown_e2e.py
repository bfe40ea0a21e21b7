"""Graceful stop (issue 11): a real `gitward serve`, a real push of tens of megabytes
through a throttled relay, and a real SIGTERM while the push is in flight.

With a long enough ``shutdown_grace_seconds`` the push lands (the ref is the pushed
commit, fsck is clean) and the server exits 0; with a tiny bound the push is refused with
one ``ERROR:`` line, the ref is unchanged, no quarantine is left, and the server still
exits 0. While the server drains, new connections are refused. The landing push is also
tried with `--workers 2`, the SIGTERM sent to the supervisor.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitward.services import accounts, repositories
from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.e2e.harness import HOSTNAME, Client, Server, keygen, server_env
from tests.e2e.transfers import (
    KB,
    SMALL,
    Shape,
    assert_fsck_clean,
    assert_server_holds,
    commit_shape,
    git,
    new_work_tree,
    server_repo,
)

RELAY = Path(__file__).with_name("slow_relay.py")
# Over git's unpackLimit (100 objects): receive-pack runs index-pack into its quarantine.
PUSH_24MB = Shape("files-120x200KB", 120, 200 * KB)
REPO = "mover/big"


def _start(tmp_path: Path, grace: int, workers: int = 1) -> tuple[Server, Context]:
    env = server_env(shutdown_grace_seconds=str(grace))
    env["GITWARD_WORKERS"] = str(workers)
    server = Server(tmp_path / "data", env).start()
    admin = open_context(
        Settings(data_dir=server.data_dir, hostname=HOSTNAME, ssh_port=server.port)
    )
    accounts.create_user(admin, "mover")
    repositories.create_repo(admin, REPO)
    return server, admin


@pytest.fixture
def started(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Server, Context]]:
    grace, workers = request.param if isinstance(request.param, tuple) else (request.param, 1)
    server, admin = _start(tmp_path, grace, workers)
    try:
        yield server, admin
    finally:
        admin.engine.dispose()
        server.stop()


def _client(server: Server, admin: Context, home: Path, *ssh_options: str) -> Client:
    home.mkdir()
    client = Client(server, home, keygen(home / "id_key"), extra_ssh=ssh_options)
    accounts.add_key(admin, "mover", Path(f"{client.key}.pub").read_bytes())
    return client


def _slow(port: int) -> tuple[str, ...]:
    # 2 MB/s each way, with a 0.3 s stall after every megabyte: a 24 MB push takes ~15 s.
    relay = f"{sys.executable} {RELAY} 127.0.0.1 {port} --rate 2000000 --pause-every 1000000"
    return ("-o", f"ProxyCommand={relay}")


def _prepare_push(server: Server, admin: Context, tmp_path: Path) -> tuple[Client, Path, str, str]:
    """A first small push (the ref to compare with), then a 24 MB commit ready to push
    through the slow relay. Returns the client, its work tree, the old and the new sha."""
    fast = _client(server, admin, tmp_path / "fast")
    work = new_work_tree(fast, "work")
    assert fast.git("remote", "add", "origin", fast.url(REPO), cwd=work).code == 0
    old = commit_shape(fast, work, SMALL, seed=1)
    pushed = fast.git("push", "-q", "origin", "main", cwd=work)
    assert pushed.code == 0, pushed.err
    new = commit_shape(fast, work, PUSH_24MB, seed=2)
    slow = _client(server, admin, tmp_path / "slow", *_slow(server.port))
    return slow, work, old, new


def _push_in_background(client: Client, work: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", "push", "origin", "main"],
        cwd=work,
        env=client.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_quarantine(server: Server, push: subprocess.Popen[bytes]) -> None:
    """Until receive-pack is writing the pushed objects (its quarantine exists)."""
    objects = server_repo(server, REPO) / "objects"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if list(objects.glob("*incoming-*")):
            time.sleep(1.0)  # a few megabytes in
            return
        assert push.poll() is None, push.communicate()
        time.sleep(0.05)
    pytest.fail("the push never started writing")


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.settimeout(2)
            return not sock.recv(64).startswith(b"SSH-")
    except OSError:
        return True


def _exit_status(server: Server, timeout: float) -> int:
    assert server.process is not None
    return server.process.wait(timeout=timeout)


@pytest.mark.parametrize("started", [120, (120, 2)], indirect=True, ids=["1-worker", "2-workers"])
def test_ok_push_in_flight_during_a_stop_lands(
    started: tuple[Server, Context], tmp_path: Path
) -> None:
    server, admin = started
    client, work, _, new = _prepare_push(server, admin, tmp_path)
    push = _push_in_background(client, work)
    _wait_for_quarantine(server, push)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert push.poll() is None, "the push should still be running while the server drains"
    assert _refused(server.port), "a new connection during the drain was accepted"
    _, err = push.communicate(timeout=120)
    assert push.returncode == 0, err.decode(errors="replace")
    assert _exit_status(server, 30) == 0
    assert_server_holds(server, REPO, new)


@pytest.mark.parametrize("started", [1], indirect=True)
def test_refused_push_past_the_grace_leaves_nothing_half_written(
    started: tuple[Server, Context], tmp_path: Path
) -> None:
    server, admin = started
    client, work, old, _ = _prepare_push(server, admin, tmp_path)
    push = _push_in_background(client, work)
    _wait_for_quarantine(server, push)
    assert server.process is not None
    started_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    _, err = push.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert push.returncode != 0, text
    assert "ERROR: Gitward stopped this operation (it is restarting)" in text
    assert _exit_status(server, 30) == 0
    assert time.monotonic() - started_at < 15
    bare = server_repo(server, REPO)
    assert git("rev-parse", "refs/heads/main", cwd=bare) == old
    assert list((bare / "objects").glob("*incoming-*")) == []
    assert list(bare.rglob("*.lock")) == []
    assert_fsck_clean(bare)
    assert "git_stopped_by_shutdown" in server.log()


@pytest.mark.parametrize("started", [1], indirect=True)
def test_refused_clone_past_the_grace_is_told_why_and_the_server_exits_0(
    started: tuple[Server, Context], tmp_path: Path
) -> None:
    server, admin = started
    client, work, _, new = _prepare_push(server, admin, tmp_path)
    pushed = _client(server, admin, tmp_path / "pusher").git(
        "push", "-q", client.url(REPO), "main", cwd=work
    )
    assert pushed.code == 0, pushed.err
    clone = subprocess.Popen(
        ["git", "clone", client.url(REPO), str(tmp_path / "clone")],
        env=client.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while "git-upload-pack" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3.0)  # a few megabytes in, through the 2 MB/s relay
    assert clone.poll() is None, clone.communicate()
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    _, err = clone.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert clone.returncode != 0, text
    assert "ERROR: Gitward stopped this operation (it is restarting)" in text
    assert _exit_status(server, 30) == 0
    assert git("rev-parse", "refs/heads/main", cwd=server_repo(server, REPO)) == new
