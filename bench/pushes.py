"""Pushes against both servers (issue 9): one large push (throughput and server CPU per GB
received), 100 sequential small pushes, and 50 simultaneous pushes, with failure counts.

Every push goes into a fresh repository made for that server and that repetition, with
Gitward's own repository configuration (``receive.fsckObjects`` and the rest) on both
sides: Gitward's through its services, OpenSSH's with the same ``create_bare`` and then
given to the ``gwbench`` account that sshd runs git-shell as (git refuses to write into a
repository another user owns, so the two servers cannot share one). A push counts as a
failure unless git exits 0 *and* the server's ref is the commit pushed.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.data import GIT_ENV, pack_bytes
from bench.measure import alternate, settle, summary
from bench.servers import HOSTNAME, SSHD_USER, Client, OpenSSHServer, Server
from gitward.git.repos import create_bare
from gitward.services import repositories
from gitward.services.context import open_context
from gitward.settings import Settings

SSH_OWNER = "sshpush"  # OpenSSH's push targets: DATA/repos/sshpush/NAME.git, owned by gwbench


def _git(*args: str, cwd: Path) -> str:
    # safe.directory: OpenSSH's targets belong to gwbench, and the bench runs as root.
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@dataclass
class Targets:
    """Makes empty repositories that one server accepts pushes into."""

    gw_data: Path
    counter: int = 0

    def make(self, server: Server, label: str) -> tuple[str, Path]:
        """(repository path as the server's URL wants it, directory on disk)."""
        self.counter += 1
        name = f"push-{label}-{self.counter}"
        if isinstance(server, OpenSSHServer):
            path = self.gw_data / "repos" / SSH_OWNER / f"{name}.git"
            create_bare(path)
            shutil.chown(path, SSHD_USER)
            for p in path.rglob("*"):
                shutil.chown(p, SSHD_USER)
            link = server.base / "home" / SSH_OWNER
            if not link.is_symlink():
                link.symlink_to(path.parent)
            return f"{SSH_OWNER}/{name}", path
        ctx = open_context(Settings(data_dir=self.gw_data, hostname=HOSTNAME))
        try:
            repositories.create_repo(ctx, f"acme/{name}")
        finally:
            ctx.engine.dispose()
        return f"acme/{name}", self.gw_data / "repos" / "acme" / f"{name}.git"


def _landed(target: Path, sha: str) -> bool:
    try:
        return _git("rev-parse", "refs/heads/main", cwd=target) == sha
    except subprocess.CalledProcessError:
        return False


def _head(repo: Path) -> str:
    return _git("rev-parse", "refs/heads/main", cwd=repo)


@dataclass
class PushSample:
    mb_per_s: float
    bytes: int
    seconds: float
    cpu_total: float
    cpu_own: float
    cpu_children: float
    ok: bool


def one_big_push(server: Server, client: Client, source: Path, targets: Targets) -> PushSample:
    repo, path = targets.make(server, "big")
    size = pack_bytes(source)
    settle(server)
    cpu0 = server.cpu()
    t0 = time.perf_counter()
    proc = client.git(
        server, "-C", str(source), "push", "-q", server.url(repo), "refs/heads/main:refs/heads/main"
    )
    wall = time.perf_counter() - t0
    settle(server)
    cpu = server.cpu() - cpu0
    ok = proc.returncode == 0 and _landed(path, _head(source))
    if not ok:
        print(f"  big push to {server.name} failed: {proc.stderr.decode()[-400:]}")
    shutil.rmtree(path, ignore_errors=True)
    return PushSample(size / 1e6 / wall, size, wall, cpu.total, cpu.own, cpu.children, ok)


def big_pushes(
    servers: list[Server],
    clients: dict[str, Client],
    source: Path,
    reps: int,
    targets: Targets,
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for label, client in clients.items():
        samples: dict[str, list[PushSample]] = {s.name: [] for s in servers}
        for rep in range(reps):
            for server in alternate(servers, rep):
                s = one_big_push(server, client, source, targets)
                samples[server.name].append(s)
                print(
                    f"  push {label:10s} {server.name:8s} rep {rep}: {s.mb_per_s:6.1f} MB/s, "
                    f"{s.bytes / 1e6:.0f} MB, CPU {s.cpu_total:.2f} s (own {s.cpu_own:.2f}, "
                    f"children {s.cpu_children:.2f}){'' if s.ok else ', FAILED'}"
                )
        out[label] = {}
        for name, xs in samples.items():
            gb = [x.bytes / 1e9 for x in xs]
            out[label][name] = {
                "bytes": xs[0].bytes,
                "failures": sum(not x.ok for x in xs),
                "mb_per_s": summary([x.mb_per_s for x in xs]),
                "cpu_s_per_gb": summary([x.cpu_total / g for x, g in zip(xs, gb, strict=True)]),
                "own_cpu_s_per_gb": summary([x.cpu_own / g for x, g in zip(xs, gb, strict=True)]),
                "children_cpu_s_per_gb": summary(
                    [x.cpu_children / g for x, g in zip(xs, gb, strict=True)]
                ),
            }
    return out


def _work_tree(path: Path, seed: int, files: int, size: int) -> str:
    """A local repository with one commit of ``files`` random files; its sha."""
    shutil.rmtree(path, ignore_errors=True)
    _git("init", "-q", "-b", "main", str(path), cwd=path.parent)
    rng = random.Random(seed)
    for i in range(files):
        (path / f"f{i:04d}.bin").write_bytes(rng.randbytes(size))
    _git("add", "-A", cwd=path)
    env_commit = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    _git(*env_commit, "commit", "-q", "-m", f"seed {seed}", cwd=path)
    return _head(path)


def sequential_pushes(
    server: Server, client: Client, count: int, scratch: Path, targets: Targets
) -> dict[str, object]:
    """``count`` pushes one after another, each a new commit of a 4 KiB file on one branch."""
    repo, path = targets.make(server, "seq")
    work = scratch / f"seq-{server.name}"
    _work_tree(work, 0, 1, 4096)
    rng = random.Random(1)
    failures, first_error = 0, ""
    settle(server)
    cpu0 = server.cpu()
    t0 = time.perf_counter()
    for n in range(count):
        (work / "f0000.bin").write_bytes(rng.randbytes(4096))
        _git("-c", "user.name=B", "-c", "user.email=b@x", "commit", "-qam", f"{n}", cwd=work)
        proc = client.git(server, "-C", str(work), "push", "-q", server.url(repo), "main")
        if proc.returncode != 0 or not _landed(path, _head(work)):
            failures += 1
            first_error = first_error or proc.stderr.decode(errors="replace")[-300:]
    wall = time.perf_counter() - t0
    settle(server)
    cpu = server.cpu() - cpu0
    shutil.rmtree(path, ignore_errors=True)
    return {
        "pushes": count,
        "failures": failures,
        "seconds": wall,
        "pushes_per_s": count / wall,
        "cpu_ms_per_push": cpu.total * 1000 / count,
        "first_error": first_error,
    }


def concurrent_pushes(
    server: Server, client: Client, works: list[tuple[Path, str]], targets: Targets
) -> dict[str, object]:
    """One push per prepared work tree, all at once, each into its own fresh repository."""
    made = [targets.make(server, "conc") for _ in works]
    settle(server)
    cpu0 = server.cpu()
    with procs.TreeSampler(server.pid, 0.1, server.helper_root) as sampler:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(works)) as pool:
            runs = list(
                pool.map(
                    lambda pair: client.git(
                        server, "-C", str(pair[0][0]), "push", "-q", server.url(pair[1][0]), "main"
                    ),
                    zip(works, made, strict=True),
                )
            )
        wall = time.perf_counter() - t0
        settle(server)
    cpu = server.cpu() - cpu0
    errors = [
        r.stderr.decode(errors="replace")[-300:]
        for r, (_, sha), (_, path) in zip(runs, works, made, strict=True)
        if r.returncode != 0 or not _landed(path, sha)
    ]
    for _, path in made:
        shutil.rmtree(path, ignore_errors=True)
    return {
        "pushes": len(works),
        "failures": len(errors),
        "seconds": wall,
        "cpu_s": cpu.total,
        "peak_rss_mb": sampler.peak_rss_kb / 1024,
        "first_error": errors[0] if errors else "",
    }


def run(
    servers: list[Server],
    clients: dict[str, Client],
    big: Path,
    gw_data: Path,
    scratch: Path,
    *,
    reps: int,
    sequential: int,
    simultaneous: int,
) -> dict[str, object]:
    targets = Targets(gw_data)
    (gw_data / "repos" / SSH_OWNER).mkdir(exist_ok=True)
    shutil.chown(gw_data / "repos" / SSH_OWNER, SSHD_USER)
    result: dict[str, object] = {
        "big": big_pushes(servers, clients, big, reps, targets),
        "sizes": {"reps": reps, "sequential": sequential, "simultaneous": simultaneous},
    }
    client = next(iter(clients.values()))
    seq: dict[str, list[dict[str, object]]] = {s.name: [] for s in servers}
    for rep in range(max(1, reps // 2)):
        for server in alternate(servers, rep):
            r = sequential_pushes(server, client, sequential, scratch, targets)
            seq[server.name].append(r)
            print(
                f"  {sequential} sequential pushes {server.name:8s} rep {rep}: "
                f"{r['pushes_per_s']:.1f}/s, {r['cpu_ms_per_push']:.0f} ms CPU each, "
                f"{r['failures']} failed"
            )
    result["sequential"] = seq
    works_dir = scratch / "conc-works"
    works_dir.mkdir(exist_ok=True)
    # 1 MB each in 120 files: the index-pack path on the server.
    works = [
        (works_dir / f"w{i}", _work_tree(works_dir / f"w{i}", 100 + i, 120, 8 * 1024))
        for i in range(simultaneous)
    ]
    conc: dict[str, list[dict[str, object]]] = {s.name: [] for s in servers}
    for rep in range(max(1, reps // 2)):
        for server in alternate(servers, rep):
            r = concurrent_pushes(server, client, works, targets)
            conc[server.name].append(r)
            print(
                f"  {simultaneous} simultaneous pushes {server.name:8s} rep {rep}: "
                f"{r['seconds']:.2f} s, {r['failures']} failed, CPU {r['cpu_s']:.2f} s, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB"
                + (f"\n    first error: {r['first_error']}" if r["first_error"] else "")
            )
    result["simultaneous"] = conc
    shutil.rmtree(works_dir, ignore_errors=True)
    return result
