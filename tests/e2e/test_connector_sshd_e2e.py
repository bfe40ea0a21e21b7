"""The connector against a stock OpenSSH sshd with git-shell on a loopback port: first
contact (unknown host key, refused key, then ok), mirrors and the index through a
force-push and a deleted branch, a host key swapped between two syncs, a repository deleted
upstream, unreachable ports in bounded time, a key replaced without a gap, and a history of
thousands of commits and megabytes. Keys come from tests/vectors (made by puttygen and
ssh-keygen, see make_key_vectors.sh)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.connector_helpers import Connector, fast_import_history, git, make_upstream
from tests.e2e.sshd_git import GitShellSshd, free_port, needs_sshd

pytestmark = needs_sshd

VECTORS = Path(__file__).parent.parent / "vectors" / "keys"
PASSPHRASE = "correct horse"  # every encrypted vector's (make_key_vectors.sh)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitShellSshd]:
    server = GitShellSshd(tmp_path_factory.mktemp("sshd")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstreams")


@pytest.fixture(scope="module")
def world(sshd: GitShellSshd, tmp_path_factory: pytest.TempPathFactory) -> Connector:
    """A connector whose key (an ssh-keygen RSA key in encrypted PKCS#8) the sshd accepts
    and whose host key is pinned from a known_hosts file."""
    base = tmp_path_factory.mktemp("connector")
    connector = Connector(base / "data", {"SECRET": PASSPHRASE})
    connector.ok(
        "key", "import", str(VECTORS / "sshkeygen_rsa2048_enc.pkcs8"), "--passphrase-env", "SECRET"
    )
    sshd.authorize(connector.public_line())
    known = base / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key_line()}\n")
    connector.ok("host", "pin", f"127.0.0.1:{sshd.port}", "--known-hosts", str(known))
    return connector


def _url(sshd: GitShellSshd, path: Path) -> str:
    return f"ssh://git-ignored@127.0.0.1:{sshd.port}{path}".replace("git-ignored", "root")


def test_ok_first_contact_says_what_to_do_at_each_step(
    sshd: GitShellSshd, upstreams: Path, tmp_path: Path
) -> None:
    make_upstream(upstreams / "first.git", ["PROJ-1 start", "PROJ-2 more"])
    # The installed console script, as a user runs it, for the import and the last sync
    # (the other steps, and the other tests, run the same entry point in process), on a
    # relative data directory like the default ``var`` (git and ssh run elsewhere).
    console = Connector(Path("data"), {"SECRET": PASSPHRASE}, subprocess=True, cwd=tmp_path)
    connector = Connector(tmp_path / "data")
    # A PuTTY .ppk v3 file, encrypted (Argon2): no conversion by hand.
    console.ok(
        "key", "import", str(VECTORS / "puttygen_ed25519_enc.ppk"), "--passphrase-env", "SECRET"
    )
    # The scp-like form with git's bracketed port.
    connector.ok("repo", "add", f"[root@127.0.0.1:{sshd.port}]:{upstreams / 'first.git'}")

    unknown = connector.failed("test")
    fingerprint = re.search(r"SHA256:[A-Za-z0-9+/]{43}", unknown.out)
    assert fingerprint, unknown.out
    pin = f"gitward connector host pin 127.0.0.1:{sshd.port} --fingerprint {fingerprint.group(0)}"
    assert "first: host_key_unknown:" in unknown.out and pin in unknown.out
    connector.ok("host", "pin", f"127.0.0.1:{sshd.port}", "--fingerprint", fingerprint.group(0))

    refused = connector.failed("test")
    public = connector.public_line()
    assert "first: auth_refused:" in refused.out
    assert "as a deploy key or on a user's keys" in refused.out and public in refused.out

    sshd.authorize(public)
    ok = connector.ok("test")
    assert ok.out.strip() == "first: ok (1 refs, default branch main)"
    synced = console.ok("sync")
    assert "first: ok (1 branches, 2 new commits indexed" in synced.out
    found = connector.json("search", "proj-2")
    assert [c["subject"] for c in found["commits"]] == ["PROJ-2 more"]
    assert found["commits"][0]["branches"] == ["main"]
    # The decrypted key lived only in a session directory that is gone now.
    assert list((tmp_path / "data" / "connector" / "run").iterdir()) == []


def test_ok_force_push_keeps_old_commits_unreachable_and_deleted_branches_go(
    world: Connector, sshd: GitShellSshd, upstreams: Path
) -> None:
    work = make_upstream(upstreams / "rewrite.git", ["OPS-1 one", "OPS-2 two", "OPS-3 three"])
    git("push", "-q", "origin", "HEAD:refs/heads/feature/OPS-9-login", cwd=work)
    world.ok("repo", "add", _url(sshd, upstreams / "rewrite.git"), "--name", "rewrite")
    world.ok("sync", "rewrite")
    before = world.json("search", "OPS-3")["commits"][0]
    assert before["reachable"] and before["branches"] == ["feature/OPS-9-login", "main"]
    assert world.json("search", "OPS-9")["branches"][0]["name"] == "feature/OPS-9-login"

    git("reset", "-q", "--hard", "HEAD~2", cwd=work)
    git("commit", "-q", "--allow-empty", "-m", "OPS-3 redone", cwd=work)
    git("push", "-q", "--force", "origin", "HEAD:main", ":refs/heads/feature/OPS-9-login", cwd=work)
    again = world.ok("sync", "rewrite")
    assert "1 new commits indexed, 2 now unreachable" in again.out
    commits = {c["subject"]: c for c in world.json("search", "OPS-3")["commits"]}
    assert commits["OPS-3 redone"]["reachable"] and commits["OPS-3 redone"]["branches"] == ["main"]
    assert not commits["OPS-3 three"]["reachable"] and commits["OPS-3 three"]["branches"] == []
    assert world.json("search", "OPS-9")["branches"] == []
    # A third sync with nothing new reads nothing and changes nothing (idempotent).
    assert "0 new commits indexed, 0 now unreachable" in world.ok("sync", "rewrite").out


def test_fail_host_key_swapped_between_two_syncs_fetches_nothing(
    tmp_path: Path, upstreams: Path
) -> None:
    server = GitShellSshd(tmp_path / "sshd").start()
    try:
        work = make_upstream(upstreams / "swap.git", ["SWP-1 first"])
        connector = Connector(tmp_path / "data")
        connector.ok("key", "generate")
        server.authorize(connector.public_line())
        connector.ok("host", "pin", f"127.0.0.1:{server.port}", "--key", server.host_key_line())
        connector.ok("repo", "add", f"ssh://root@127.0.0.1:{server.port}{upstreams / 'swap.git'}")
        connector.ok("sync")
        old = connector.json("host", "list")[0]["fingerprint"]

        server.rotate_host_key()
        (work / "new.txt").write_text("new")
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "SWP-2 after the swap", cwd=work)
        git("push", "-q", "origin", "HEAD:main", cwd=work)
        refused = connector.failed("sync")
        assert "swap: host_key_changed:" in refused.out
        assert old in refused.out and server.fingerprint() in refused.out
        assert "host unpin" in refused.out
        assert connector.json("search", "SWP-2")["commits"] == []
        status = connector.json("repo", "list")[0]
        assert status["last_error_kind"] == "host_key_changed"
        assert status["consecutive_failures"] == 1
    finally:
        server.stop()


def test_fail_repository_deleted_upstream_others_still_sync(
    world: Connector, sshd: GitShellSshd, upstreams: Path
) -> None:
    make_upstream(upstreams / "doomed.git", ["DEL-1 soon gone"])
    make_upstream(upstreams / "stays.git", ["STY-1 here to stay"])
    world.ok("repo", "add", _url(sshd, upstreams / "doomed.git"), "--name", "doomed")
    world.ok("repo", "add", _url(sshd, upstreams / "stays.git"), "--name", "stays")
    world.ok("sync", "doomed", "stays")
    shutil.rmtree(upstreams / "doomed.git")
    result = world.failed("sync", "doomed", "stays")
    assert "doomed: not_found:" in result.out and "stays: ok" in result.out
    assert "error: 1 of 2 repositories failed to sync" in result.err
    # What was indexed stays findable.
    assert world.json("search", "DEL-1")["commits"][0]["subject"] == "DEL-1 soon gone"
    test = world.failed("test", "doomed")
    assert "doomed: not_found:" in test.out


def _silent_listener() -> tuple[socket.socket, int]:
    """A port that accepts TCP connections and never says a word (a firewall's tarpit)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, int(sock.getsockname()[1])


def test_fail_unreachable_ports_fail_in_bounded_time(world: Connector, sshd: GitShellSshd) -> None:
    connector = Connector(world.data_dir, {"GITWARD_CONNECTOR_CONNECT_TIMEOUT": "2"})
    closed = free_port()
    silent, port = _silent_listener()
    try:
        connector.ok("repo", "add", f"ssh://root@127.0.0.1:{closed}/x.git", "--name", "closed")
        connector.ok("repo", "add", f"ssh://root@127.0.0.1:{port}/x.git", "--name", "silent")
        # Pinned, so that ssh itself connects (and must give up on its own).
        connector.ok("host", "pin", f"127.0.0.1:{port}", "--key", sshd.host_key_line())
        started = time.monotonic()
        result = connector.failed("test", "closed", "silent")
        elapsed = time.monotonic() - started
        assert "closed: network:" in result.out and "Connection refused" in result.out
        assert "silent: timeout:" in result.out and "did not answer within 2 s" in result.out
        assert elapsed < 60, elapsed  # ConnectTimeout=2 bounds the handshake
    finally:
        silent.close()
        connector.ok("repo", "remove", "closed")
        connector.ok("repo", "remove", "silent")
        connector.ok("host", "unpin", f"127.0.0.1:{port}")


def test_ok_replacing_the_key_keeps_the_old_one_until_every_repository_accepts_the_new(
    sshd: GitShellSshd, upstreams: Path, tmp_path: Path
) -> None:
    make_upstream(upstreams / "rot-a.git", ["ROT-1 a"])
    make_upstream(upstreams / "rot-b.git", ["ROT-2 b"])
    connector = Connector(tmp_path / "data")
    connector.ok("key", "generate", "-t", "ecdsa")
    old = connector.public_line()
    sshd.authorize(old)
    connector.ok("host", "pin", f"127.0.0.1:{sshd.port}", "--key", sshd.host_key_line())
    for name in ("rot-a", "rot-b"):
        connector.ok("repo", "add", _url(sshd, upstreams / f"{name}.git"))
    connector.ok("test")

    replaced = connector.ok("key", "generate")
    new = replaced.out.splitlines()[0]
    assert "pending" in replaced.out and new != old
    show = connector.ok("key", "show").out
    assert "repositories that still accept only the old key: rot-a, rot-b" in show
    assert connector.ok("sync").out.count(": ok") == 2  # both keys are offered meanwhile
    pending = connector.ok("test")
    assert pending.out.count("new key NOT accepted") == 2
    assert connector.public_line() == old

    sshd.authorize(new)
    promoted = connector.ok("test")
    assert "it is now the connector's key" in promoted.out
    status = connector.json("key", "show")
    assert status["active"]["public_key"] == new and status["pending"] is None


def test_ok_thousands_of_commits_and_megabytes_blobless(
    world: Connector, sshd: GitShellSshd, upstreams: Path
) -> None:
    upstream = upstreams / "big.git"
    fast_import_history(upstream, commits=3000, blob_bytes=2500)
    world.ok("repo", "add", _url(sshd, upstream), "--name", "big")
    result = world.ok("sync", "big")
    assert "big: ok (1 branches, 3000 new commits indexed" in result.out
    found = world.json("search", "BIG-2991")["commits"]
    assert len(found) == 1 and found[0]["files_changed"] == 1
    assert found[0]["branches"] == ["main"]
    mirror = world.data_dir / "connector" / "mirrors" / "big.git"
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())  # noqa: E731
    # Blobless: the 7.5 MB of blobs stayed upstream.
    assert size(upstream / "objects") > 7_000_000
    assert size(mirror / "objects") < size(upstream / "objects") / 4
