"""Building repositories of given shapes and checking transfers byte for byte.

Content is pseudo-random from a seed (incompressible, so the bytes on the wire are the
sizes named), written by real git in a client's work tree. A transfer is checked the
way a user would trust it: the server's ref is the commit pushed, ``git fsck --full`` is
clean on both sides, a clone's refs equal the server's, and no quarantine is left behind.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitward.git.repos import repository_path
from tests.e2e.harness import Client, Server

KB, MB = 1024, 1024 * 1024
CIPHERS = ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com")


@dataclass(frozen=True)
class Shape:
    """What one commit adds: ``blobs`` files of ``blob_size`` bytes each."""

    name: str
    blobs: int
    blob_size: int

    @property
    def size(self) -> int:
        return self.blobs * self.blob_size


EMPTY = Shape("empty", 0, 0)
SMALL = Shape("small-1KB", 1, KB)
BLOB_8MB = Shape("blob-8MB", 1, 8 * MB)  # under git's unpackLimit: unpack-objects
BLOB_64MB = Shape("blob-64MB", 1, 64 * MB)
FILES_400 = Shape("files-400x20KB", 400, 20 * KB)  # over unpackLimit: index-pack


def git(*args: str, cwd: Path) -> str:
    """git on the server's side of the disk (no SSH): for checking, never for the transfer."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_shape(client: Client, work: Path, shape: Shape, seed: int) -> str:
    """Add one commit of ``shape`` in ``work`` (a clone or a fresh repository); its sha."""
    rng = random.Random(seed)
    folder = work / f"data-{seed}"
    folder.mkdir(exist_ok=True)
    for i in range(shape.blobs):
        (folder / f"f{i:04d}.bin").write_bytes(rng.randbytes(shape.blob_size))
    for args in (("add", "-A"), ("commit", "-q", "--allow-empty", "-m", f"{shape.name} {seed}")):
        result = client.git(*args, cwd=work)
        assert result.code == 0, result.err
    return client.git("rev-parse", "HEAD", cwd=work).out.strip()


def new_work_tree(client: Client, name: str) -> Path:
    work = client.home / name
    assert client.git("init", "-q", "-b", "main", str(work)).code == 0
    return work


def server_repo(server: Server, repo: str) -> Path:
    owner, name = repo.split("/")
    return repository_path(server.data_dir / "repos", owner, name)


def assert_server_holds(server: Server, repo: str, sha: str) -> None:
    """The server's main is ``sha``, its objects are whole, and no quarantine is left."""
    bare = server_repo(server, repo)
    assert git("rev-parse", "refs/heads/main", cwd=bare) == sha
    assert_fsck_clean(bare)
    leftovers = list((bare / "objects").glob("*incoming-*"))
    assert leftovers == [], f"quarantine left behind: {leftovers}"


def assert_fsck_clean(repo: Path) -> None:
    result = subprocess.run(
        ["git", "fsck", "--full", "--no-dangling"], cwd=repo, capture_output=True, text=True
    )
    # An empty repository only gets "notice:" lines; anything else is a finding.
    findings = [ln for ln in result.stderr.splitlines() if not ln.startswith("notice:")]
    assert result.returncode == 0 and not findings, result.stderr


def refs(repo: Path, prefix: str) -> dict[str, str]:
    lines = git("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=repo)
    return {
        name.removeprefix(prefix): sha
        for name, sha in (line.split() for line in lines.splitlines())
    }


def assert_clone_matches(server: Server, repo: str, clone: Path) -> None:
    """A clone's remote-tracking branches are the server's branches, and its objects are
    whole (``origin/HEAD`` is a symbolic ref to one of them, left out)."""
    tracking = refs(clone, "refs/remotes/origin/")
    tracking.pop("HEAD", None)
    assert tracking == refs(server_repo(server, repo), "refs/heads/")
    assert_fsck_clean(clone)
