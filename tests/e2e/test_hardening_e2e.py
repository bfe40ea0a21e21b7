"""Hardening of the SSH server (issue 4, item 5), each with a regression test."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from gitward.services import accounts, repositories
from gitward.services.context import Context
from tests.e2e.harness import Client, Server, keygen, server_env

MakeClient = Callable[..., Client]


def _user(admin: Context, make_client: MakeClient, name: str) -> Client:
    client = make_client()
    accounts.create_user(admin, name)
    accounts.add_key(admin, name, Path(f"{client.key}.pub").read_bytes())
    return client


# -- identity is bound to the key that signed ------------------------------------------------


def test_fail_offering_someone_elses_key_then_signing_with_your_own(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    """soft-serve's bypass and CVE-2024-45337's class: the server accepts (PK_OK) an offered
    key, the client cannot sign with it and signs with another key. Identity must follow
    the key that signed."""
    victim = _user(admin, make_client, "hb-admin")
    repositories.create_repo(admin, "hb-admin/secret")
    mallory = make_client()
    offered_only = tmp_path / "victim_pub_only"
    offered_only.with_suffix(".pub").write_bytes(Path(f"{victim.key}.pub").read_bytes())
    # The victim's key is offered first (the server answers PK_OK), then mallory signs.
    mallory.key, own = offered_only, mallory.key
    mallory.extra_ssh = ("-i", str(own))
    assert "Permission denied (publickey)" in mallory.ssh().err
    accounts.create_user(admin, "hb-mallory")
    accounts.add_key(admin, "hb-mallory", Path(f"{own}.pub").read_bytes())
    result = mallory.ssh()
    assert "Hi hb-mallory!" in result.err, result.err
    assert "ERROR: Repository not found." in mallory.clone("hb-admin/secret").err


# -- authentication attempts -----------------------------------------------------------------


def test_fail_at_most_six_attempts_per_connection(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    client = _user(admin, make_client, "hb-tries")
    good = client.key
    strangers = [keygen(tmp_path / f"stranger{i}") for i in range(6)]

    def offering(keys: list[Path]) -> tuple[str, ...]:
        return tuple(arg for key in keys for arg in ("-i", str(key)))

    # Six failures end the connection: the registered key, offered seventh, is never tried.
    client.key, client.extra_ssh = strangers[0], offering([*strangers[1:], good])
    result = client.ssh()
    assert result.code == 255
    assert "Too many authentication failures" in result.err
    # Five failures leave room for the sixth key.
    client.key, client.extra_ssh = strangers[0], offering([*strangers[1:5], good])
    assert "Hi hb-tries!" in client.ssh().err


# -- the environment of git ------------------------------------------------------------------


def test_fail_client_environment_never_reaches_git(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    client = _user(admin, make_client, "hb-env")
    repositories.create_repo(admin, "hb-env/app")
    client.push_new_commit("hb-env/app")
    marker = tmp_path / "pwned"
    client.extra_ssh = (
        "-o",
        "SetEnv=GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=uploadpack.packObjectsHook "
        f"GIT_CONFIG_VALUE_0=touch\\ {marker}; LD_PRELOAD=/nonexistent.so GIT_DIR=/etc",
    )
    result = client.clone("hb-env/app", "envclone")
    assert result.code == 0, result.err
    assert not marker.exists()


# -- repository paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, command, message",
    [
        ("fail/dotdot", "git-upload-pack '../../etc'", "ERROR: Repository not found."),
        ("fail/absolute-escape", "git-upload-pack '/etc/passwd'", "ERROR: Repository not found."),
        ("fail/leading-dash", "git-upload-pack '--help/x.git'", "ERROR: Repository not found."),
        (
            "fail/extra-argument",
            "git-upload-pack 'hb-path/app.git' --upload-pack=evil",
            "ERROR: invalid command",
        ),
        ("fail/not-git", "cat /etc/passwd", "ERROR: invalid command"),
        (
            "fail/shell-metacharacters",
            "git-upload-pack 'hb-path/app.git'; id",
            "ERROR: invalid command",
        ),
    ],
)
def test_fail_hostile_commands(
    admin: Context, make_client: MakeClient, case: str, command: str, message: str
) -> None:
    name = f"hb-path-{abs(hash(case)) % 10**6}"
    client = _user(admin, make_client, name)
    result = client.ssh(command.replace("hb-path", name))
    assert result.code == 1
    assert result.err.splitlines()[0].lower() == message.lower(), (case, result.err)


def test_fail_symlink_escape_is_not_found(
    admin: Context, make_client: MakeClient, server: Server, tmp_path: Path
) -> None:
    client = _user(admin, make_client, "hb-link")
    repositories.create_repo(admin, "hb-link/app")
    outside = tmp_path / "outside.git"
    subprocess.run(["git", "init", "-q", "--bare", str(outside)], check=True)
    target = server.data_dir / "repos" / "hb-link" / "app.git"
    subprocess.run(["rm", "-rf", str(target)], check=True)
    target.symlink_to(outside)
    assert "ERROR: Repository not found." in client.clone("hb-link/app").err


# -- pushes ----------------------------------------------------------------------------------


def test_ok_receive_fsck_objects_refuses_corrupt_objects(
    admin: Context, make_client: MakeClient
) -> None:
    client = _user(admin, make_client, "hb-fsck")
    repositories.create_repo(admin, "hb-fsck/app")
    work = client.home / "fsckwork"
    client.git("init", "-q", str(work))
    # A tree entry with a bad mode: git's fsck on receive must refuse it.
    blob = client.git("hash-object", "-w", "--stdin", cwd=work)
    bad_tree = subprocess.run(
        ["git", "mktree", "--missing"],
        input=f"100644 blob {'0' * 40}\tx\n",
        capture_output=True,
        text=True,
        cwd=work,
        env=client.env(),
        check=False,
    )
    assert blob.code == 0 and bad_tree.returncode == 0
    commit = subprocess.run(
        ["git", "commit-tree", bad_tree.stdout.strip(), "-m", "bad"],
        capture_output=True,
        text=True,
        cwd=work,
        env=client.env(),
        check=True,
    ).stdout.strip()
    push = client.git("push", client.url("hb-fsck/app"), f"{commit}:refs/heads/main", cwd=work)
    assert push.code != 0
    heads = client.git("ls-remote", "--heads", client.url("hb-fsck/app"))
    assert heads.out.strip() == ""


def _pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def test_ok_client_vanishing_mid_push_changes_nothing(
    admin: Context, make_client: MakeClient, server: Server
) -> None:
    client = _user(admin, make_client, "hb-cut")
    repositories.create_repo(admin, "hb-cut/app")
    assert client.push_new_commit("hb-cut/app").code == 0
    work = client.home / "work_hb-cut_app"
    old = client.git("rev-parse", "HEAD", cwd=work).out.strip()
    (work / "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    client.git("add", "big.bin", cwd=work)
    client.git("commit", "-q", "-m", "big", cwd=work)
    new = client.git("rev-parse", "HEAD", cwd=work).out.strip()
    pack = subprocess.run(
        ["git", "pack-objects", "--stdout", "--revs", "-q"],
        input=f"{new}\n^{old}\n".encode(),
        capture_output=True,
        cwd=work,
        check=True,
    ).stdout
    repo_dir = server.data_dir / "repos" / "hb-cut" / "app.git"

    async def push_half() -> None:
        async with asyncssh.connect(
            "127.0.0.1",
            server.port,
            username="git",
            client_keys=[str(client.key)],
            known_hosts=str(server.known_hosts(client.home / "kh")),
            config=None,
        ) as conn:
            proc = await conn.create_process("git-receive-pack 'hb-cut/app.git'", encoding=None)
            advert = b""
            while not advert.endswith(b"0000"):
                advert += await proc.stdout.read(65536)
            proc.stdin.write(_pkt(f"{old} {new} refs/heads/main\0report-status\n".encode()))
            proc.stdin.write(b"0000" + pack[: len(pack) // 2])
            await proc.stdin.drain()
            # Wait until git has started receiving (the quarantine exists), then vanish.
            for _ in range(200):
                if list(repo_dir.glob("objects/tmp_objdir-incoming-*")):
                    break
                await asyncio.sleep(0.05)
            conn.abort()

    asyncio.run(push_half())
    deadline = time.monotonic() + 60
    while list(repo_dir.glob("objects/tmp_objdir-incoming-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(repo_dir.glob("objects/tmp_objdir-incoming-*")) == []
    heads = client.git("ls-remote", client.url("hb-cut/app"), "refs/heads/main").out.split()
    assert heads[0] == old


# -- what the SSH server does not offer -------------------------------------------------------


def test_fail_no_pty_no_subsystem_no_forwarding(admin: Context, make_client: MakeClient) -> None:
    client = _user(admin, make_client, "hb-nopty")
    client.extra_ssh = ("-tt",)
    assert "PTY allocation request failed" in client.ssh().err
    client.extra_ssh = ("-s",)
    sftp = client.ssh("sftp")
    assert sftp.code == 255 and "subsystem request failed" in sftp.err
    client.extra_ssh = ("-o", "ExitOnForwardFailure=yes", "-N", "-L", "127.0.0.1:0:127.0.0.1:22")
    forward = client.ssh()
    assert forward.code == 255


# -- a fresh server for the tests that change settings or state at start ---------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(data_dir: Path | None = None, **settings: str) -> Server:
        srv = Server(data_dir or tmp_path / f"data{len(started)}", server_env(**settings))
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


def test_ok_stale_locks_and_quarantine_are_swept_at_start(
    fresh: Callable[..., Server], tmp_path: Path
) -> None:
    data = tmp_path / "sweep"
    first = fresh(data)
    first.stop()
    repo = data / "repos" / "acme" / "app.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    lock = repo / "refs" / "heads" / "main.lock"
    quarantine = repo / "objects" / "tmp_objdir-incoming-abc123"
    fresh_lock = repo / "HEAD.lock"
    lock.write_text("x")
    quarantine.mkdir()
    fresh_lock.write_text("x")
    old = time.time() - 7200
    os.utime(lock, (old, old))
    os.utime(quarantine, (old, old))
    fresh(data, stale_lock_seconds="3600")
    assert not lock.exists() and not quarantine.exists()
    assert fresh_lock.exists()  # younger than stale_lock_seconds: maybe a live git's


def _open_raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    return sock


def _banner_or_eof(sock: socket.socket) -> bytes:
    try:
        return sock.recv(256)
    except (ConnectionResetError, TimeoutError):
        return b""


def test_fail_unauthenticated_connections_are_capped(fresh: Callable[..., Server]) -> None:
    srv = fresh(max_startups="2")
    held = [_open_raw(srv.port) for _ in range(2)]
    try:
        assert all(_banner_or_eof(s).startswith(b"SSH-2.0-") for s in held)
        extra = _open_raw(srv.port)
        assert _banner_or_eof(extra) == b""  # dropped before the SSH banner
        extra.close()
    finally:
        for sock in held:
            sock.close()


def test_fail_one_address_holds_at_most_its_share_of_startups(
    fresh: Callable[..., Server],
) -> None:
    srv = fresh(per_source_max_startups="2", penalty_exempt="")
    held = [_open_raw(srv.port) for _ in range(2)]
    try:
        assert all(_banner_or_eof(s).startswith(b"SSH-2.0-") for s in held)
        extra = _open_raw(srv.port)
        assert _banner_or_eof(extra) == b""  # this address already holds its two
        extra.close()
    finally:
        for sock in held:
            sock.close()


def test_fail_login_grace_time_closes_idle_connections(fresh: Callable[..., Server]) -> None:
    srv = fresh(login_grace_seconds="1")
    sock = _open_raw(srv.port)
    try:
        assert _banner_or_eof(sock).startswith(b"SSH-2.0-")
        sock.sendall(b"SSH-2.0-idle\r\n")
        received = b""
        while chunk := _banner_or_eof(sock):
            received += chunk
        # The server hung up on its own (no KEXINIT answered within the grace time).
        assert sock.recv(1) == b""
    finally:
        sock.close()


def test_fail_failing_addresses_are_penalised_but_sessions_go_on(
    fresh: Callable[..., Server], tmp_path: Path
) -> None:
    from gitward.services.context import open_context
    from gitward.settings import Settings

    srv = fresh(penalty_exempt="")
    ctx = open_context(Settings(data_dir=srv.data_dir))
    try:
        key = keygen(tmp_path / "alice")
        accounts.create_user(ctx, "alice")
        accounts.add_key(ctx, "alice", Path(f"{key}.pub").read_bytes())
    finally:
        ctx.engine.dispose()
    stranger = keygen(tmp_path / "stranger")
    known = srv.known_hosts(tmp_path / "kh")

    async def scenario() -> tuple[str, list[bool]]:
        async with asyncssh.connect(
            "127.0.0.1",
            srv.port,
            username="git",
            client_keys=[str(key)],
            known_hosts=str(known),
            config=None,
        ) as alice:
            refused = []
            for _ in range(6):
                try:
                    async with asyncssh.connect(
                        "127.0.0.1",
                        srv.port,
                        username="git",
                        client_keys=[str(stranger)],
                        known_hosts=str(known),
                        config=None,
                    ):
                        refused.append(False)
                except (asyncssh.PermissionDenied, asyncssh.ConnectionLost, OSError):
                    refused.append(True)
            # The authenticated connection is still served.
            result = await alice.run("", check=False)
            return str(result.stderr), refused

    greeting, refused = asyncio.run(scenario())
    assert all(refused)
    assert "Hi alice!" in greeting
    assert "connection_refused" in srv.log()  # later attempts were turned away at connect
