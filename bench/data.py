"""Deterministic test repositories, client keys, a CA and a certificate, and the Gitward
data directory set up through the services (the administrator's side)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import HOSTNAME, SSHD_USER

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "LC_ALL": "C",
}
WORDS = [
    "alpha", "beta", "gamma", "delta", "return", "value", "index", "buffer", "channel",
    "packet", "window", "key", "cert", "session", "server", "client", "repo", "clone",
    "fetch", "push", "branch", "commit", "tree", "blob", "tag", "ref",
]  # fmt: skip


def _fast_import(dest: Path, stream_writer: object) -> None:
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(dest)],
        check=True,
        env=GIT_ENV,
    )
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=dest,
        stdin=subprocess.PIPE,
        env=GIT_ENV,
    )
    assert proc.stdin is not None
    stream_writer(proc.stdin)  # type: ignore[operator]
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed for {dest}")


def _commit(out, n: int, files: list[tuple[str, bytes]]) -> None:  # type: ignore[no-untyped-def]
    stamp = 1_700_000_000 + n * 3600
    msg = f"commit {n}\n".encode()
    out.write(b"commit refs/heads/main\n")
    out.write(f"committer Bench <bench@example.com> {stamp} +0000\n".encode())
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    # Later commits continue the branch: fast-import remembers its tip.
    for path, content in files:
        out.write(b"M 100644 inline %s\ndata %d\n" % (path.encode(), len(content)))
        out.write(content)
        out.write(b"\n")


def make_small_repo(dest: Path, seed: int = 6) -> None:
    """About 300 text files over 40 commits (a couple of MB packed, with deltas)."""
    rng = random.Random(seed)

    def text(lines: int) -> bytes:
        return (
            "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(lines)) + "\n"
        ).encode()

    def write(out) -> None:  # type: ignore[no-untyped-def]
        contents = {f"src/mod{i:03d}.txt": text(rng.randint(20, 400)) for i in range(300)}
        _commit(out, 0, sorted(contents.items()))
        for n in range(1, 40):
            changed = rng.sample(sorted(contents), 15)
            for path in changed:
                contents[path] = contents[path] + text(rng.randint(1, 30))
            _commit(out, n, [(p, contents[p]) for p in changed])

    _fast_import(dest, write)
    subprocess.run(["git", "gc", "-q", "--aggressive"], cwd=dest, check=True, env=GIT_ENV)


def make_big_repo(dest: Path, megabytes: int, seed: int = 6) -> None:
    """``megabytes`` one-MiB incompressible blobs, 20 per commit: a pack of about that size."""
    rng = random.Random(seed)

    def write(out) -> None:  # type: ignore[no-untyped-def]
        for n, start in enumerate(range(0, megabytes, 20)):
            files = [
                (f"data/{i // 100:02d}/blob{i:05d}.bin", rng.randbytes(1 << 20))
                for i in range(start, min(start + 20, megabytes))
            ]
            _commit(out, n, files)

    _fast_import(dest, write)
    subprocess.run(["git", "repack", "-a", "-d", "-q"], cwd=dest, check=True, env=GIT_ENV)


def pack_bytes(repo: Path) -> int:
    return sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack"))


def cached_repo(cache: Path, name: str, maker, *args: object) -> Path:  # type: ignore[no-untyped-def]
    """Build a repository once per cache directory (deterministic, so reusing it is safe)."""
    dest = cache / f"{name}.git"
    stamp = cache / f"{name}.done"
    want = repr(args)
    if not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        maker(dest, *args)
        stamp.write_text(want)
    return dest


def install_repo(source: Path, target: Path) -> None:
    """Fill the (empty, just created by Gitward) bare repository ``target`` with
    ``source``'s packs (hard links) and branch."""
    pack_dir = target / "objects" / "pack"
    pack_dir.mkdir(parents=True, exist_ok=True)
    for f in (source / "objects" / "pack").iterdir():
        dest = pack_dir / f.name
        if not dest.exists():
            os.link(f, dest)
    head = subprocess.run(
        ["git", "rev-parse", "refs/heads/main"],
        cwd=source, env=GIT_ENV, capture_output=True, check=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        ["git", "update-ref", "refs/heads/main", head], cwd=target, env=GIT_ENV, check=True
    )


def keygen(path: Path, key_type: str, bits: int | None = None) -> Path:
    if not path.exists():
        args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", path.name, "-f", str(path)]
        if bits:
            args += ["-b", str(bits)]
        subprocess.run(args, check=True)
    return path


@dataclass
class Identities:
    ed25519: Path
    rsa: Path
    cert_key: Path
    cert: Path
    ca: Path


def make_identities(base: Path) -> Identities:
    """Client keys and one certificate good on both servers: principal ``gwbench`` (sshd
    matches principals to the account) and ``login@bench.test=alice`` (Gitward's rule)."""
    base.mkdir(parents=True, exist_ok=True)
    ed = keygen(base / "id_ed25519", "ed25519")
    rsa = keygen(base / "id_rsa4096", "rsa", 4096)
    cert_key = keygen(base / "id_cert", "ed25519")
    ca = keygen(base / "ca", "ed25519")
    cert = Path(f"{cert_key}-cert.pub")
    return Identities(ed, rsa, cert_key, cert, ca)


def sign_certificate(ids: Identities) -> None:
    """(Re)sign the certificate. Gitward refuses a ``login@`` certificate whose valid_after
    is more than 60 s older than the user, so this runs after the user is created; -V +2d
    backdates by a minute, as ssh-keygen does."""
    ids.cert.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ids.ca), "-I", "bench-cert", "-n", SSHD_USER,
         "-V", "+2d", "-O", f"extension:login@{HOSTNAME}=alice", f"{ids.cert_key}.pub"],
        check=True,
    )  # fmt: skip
