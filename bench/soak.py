"""The transfer soak (issue 9): hundreds of rounds of pushes, fetches and clones of mixed
sizes, several at once, against one `gitward serve` on its default settings; every
transfer checked byte for byte, and the server's log read for tracebacks at the end.

    .venv/bin/python -m bench.soak [--rounds 300] [--parallel 4] [--repos 8]

Each round, ``--parallel`` workers each take a different repository and push a new
commit of a random shape onto its history (an empty commit, 1 KiB, a 1-8 MiB blob,
hundreds of small files, or a 16-64 MiB blob), then check that the server's ref is that
commit, fetch it into a second clone (or clone afresh, one time in five) and check that
the clone's branches equal the server's. A repository whose pack passes 300 MB is
replaced by a new one, so the disk stays bounded. At the end every repository gets
`git fsck --full`. Writes bench/soak.json and, when bench/results.json exists,
re-renders bench/RESULTS.md with the soak's figures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench import data
from bench.servers import HOSTNAME, Client, GitwardServer

HERE = Path(__file__).resolve().parent
KIB, MIB = 1024, 1024 * 1024
# (name, weight, files, (smallest, largest) file size)
SHAPES = [
    ("empty", 10, 0, (0, 0)),
    ("small", 25, 1, (KIB, KIB)),
    ("blob", 30, 1, (1 * MIB, 8 * MIB)),
    ("files", 25, 300, (2 * KIB, 40 * KIB)),
    ("large-blob", 10, 1, (16 * MIB, 64 * MIB)),
]
ROTATE_BYTES = 300_000_000
TRACEBACK = re.compile(r"^Traceback \(most recent call last\)|Exception in callback", re.M)


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=Soak", "-c", "user.email=soak@example.com", *args],
        cwd=cwd,
        env=data.GIT_ENV,
        capture_output=True,
        text=True,
        check=check,
    )


@dataclass
class Tally:
    transfers: int = 0
    pushes: int = 0
    fetches: int = 0
    clones: int = 0
    bytes_pushed: int = 0
    failures: list[str] = field(default_factory=list)
    by_shape: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what[-500:])
            print(f"  FAILURE: {what[-300:]}", flush=True)


@dataclass
class Repo:
    name: str
    generation: int = 0
    work: Path | None = None
    reader: Path | None = None

    @property
    def full(self) -> str:
        return f"soak/{self.name}-{self.generation}"


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.base: Path = args.work
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(parents=True)
        self.data_dir = self.base / "data"
        self.home = self.base / "client"
        self.home.mkdir()
        key = data.keygen(self.home / "id_ed25519", "ed25519")
        self.client = Client(self.home, key)
        self.tally = Tally()
        self.rng = random.Random(args.seed)
        self.server = GitwardServer(
            "gitward",
            data_dir=self.data_dir,
            # The defaults, not the benchmark's raised MaxStartups.
            env_extra={"GITWARD_MAX_STARTUPS": "256:30:1024"},
        )

    def admin(self, *calls: tuple[str, tuple[object, ...]]) -> None:
        from gitward.services import accounts, repositories
        from gitward.services.context import open_context
        from gitward.settings import Settings

        ctx = open_context(Settings(data_dir=self.data_dir, hostname=HOSTNAME))
        try:
            for what, call_args in calls:
                fn = {
                    "user": accounts.create_user,
                    "key": accounts.add_key,
                    "repo": repositories.create_repo,
                }[what]
                fn(ctx, *call_args)  # type: ignore[operator]
        finally:
            ctx.engine.dispose()

    def server_repo(self, repo: Repo) -> Path:
        return self.data_dir / "repos" / "soak" / f"{repo.name}-{repo.generation}.git"

    def new_generation(self, repo: Repo) -> None:
        if repo.generation:
            shutil.rmtree(self.server_repo(repo), ignore_errors=True)
        repo.generation += 1
        self.admin(("repo", (repo.full,)))
        for attr in ("work", "reader"):
            old = getattr(repo, attr)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        repo.work = self.home / f"work-{repo.name}-{repo.generation}"
        git("init", "-q", "-b", "main", str(repo.work), cwd=self.home)
        git("remote", "add", "origin", self.server.url(repo.full), cwd=repo.work)
        repo.reader = None

    def remote(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**self.client.env(self.server), "GIT_AUTHOR_NAME": "Soak"},
            capture_output=True,
            timeout=900,
            check=False,
        )
        with self.tally.lock:
            self.tally.transfers += 1
        return proc

    def commit(self, repo: Repo, rng: random.Random) -> tuple[str, int, str]:
        assert repo.work is not None
        name, _, files, (lo, hi) = rng.choices(SHAPES, weights=[s[1] for s in SHAPES])[0]
        folder = repo.work / f"c{rng.randrange(10**9)}"
        folder.mkdir()
        size = 0
        for i in range(files):
            n = rng.randint(lo, hi)
            (folder / f"f{i}.bin").write_bytes(rng.randbytes(n))
            size += n
        git("add", "-A", cwd=repo.work)
        git("commit", "-q", "--allow-empty", "-m", f"{name} {size}", cwd=repo.work)
        sha = git("rev-parse", "HEAD", cwd=repo.work).stdout.strip()
        return name, size, sha

    def branches(self, path: Path, prefix: str) -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=path).stdout
        found = dict(line.split() for line in out.splitlines())
        return {k.removeprefix(prefix): v for k, v in found.items() if not k.endswith("/HEAD")}

    def one(self, repo: Repo, seed: int) -> None:
        rng = random.Random(seed)
        assert repo.work is not None
        shape, size, sha = self.commit(repo, rng)
        pushed = self.remote("push", "-q", "origin", "main", cwd=repo.work)
        with self.tally.lock:
            self.tally.pushes += 1
            self.tally.bytes_pushed += size
            self.tally.by_shape[shape] = self.tally.by_shape.get(shape, 0) + 1
        server = self.server_repo(repo)
        got = git("rev-parse", "refs/heads/main", cwd=server, check=False).stdout.strip()
        if pushed.returncode != 0 or got != sha:
            self.tally.fail(f"push {shape} {size} B to {repo.full}: {pushed.stderr.decode()}")
            return
        if repo.reader is None or rng.random() < 0.2:
            if repo.reader is not None:
                shutil.rmtree(repo.reader, ignore_errors=True)
            repo.reader = self.home / f"reader-{repo.name}-{repo.generation}"
            url = self.server.url(repo.full)
            done = self.remote("clone", "-q", "--no-checkout", url, str(repo.reader), cwd=self.home)
            kind = "clones"
        else:
            done = self.remote("fetch", "-q", "origin", cwd=repo.reader)
            kind = "fetches"
        with self.tally.lock:
            setattr(self.tally, kind, getattr(self.tally, kind) + 1)
        if done.returncode != 0:
            self.tally.fail(f"{kind[:-2]} of {repo.full}: {done.stderr.decode()}")
            return
        if self.branches(repo.reader, "refs/remotes/origin/") != self.branches(
            server, "refs/heads/"
        ):
            self.tally.fail(f"{kind[:-2]} of {repo.full}: branches differ from the server's")
        if (
            data.pack_bytes(server)
            + sum(p.stat().st_size for p in (server / "objects").glob("??/*"))
            > ROTATE_BYTES
        ):
            self.new_generation(repo)

    def run(self) -> dict[str, object]:
        args = self.args
        self.server.start()
        try:
            self.admin(
                ("user", ("soak",)),
                ("key", ("soak", Path(f"{self.client.key}.pub").read_bytes())),
            )
            (self.home / "known_hosts").write_text(self.server.known_hosts_lines())
            repos = [Repo(f"r{i}") for i in range(args.repos)]
            for repo in repos:
                self.new_generation(repo)
            t0 = time.monotonic()
            with ThreadPoolExecutor(args.parallel) as pool:
                for round_no in range(args.rounds):
                    chosen = self.rng.sample(repos, args.parallel)
                    seeds = [self.rng.randrange(10**9) for _ in chosen]
                    list(pool.map(self.one, chosen, seeds))
                    if round_no % 10 == 9:
                        print(
                            f"  round {round_no + 1}/{args.rounds}: {self.tally.transfers} "
                            f"transfers, {self.tally.bytes_pushed / 1e9:.2f} GB pushed, "
                            f"{len(self.tally.failures)} failures",
                            flush=True,
                        )
            wall = time.monotonic() - t0
            fsck_failures = []
            for repo in repos:
                proc = git("fsck", "--full", "--no-dangling", cwd=self.server_repo(repo),
                           check=False)  # fmt: skip
                if proc.returncode != 0:
                    fsck_failures.append(f"{repo.full}: {proc.stderr[-300:]}")
        finally:
            self.server.stop()
        log = self.server.log_path.read_text(errors="replace")
        tracebacks = len(TRACEBACK.findall(log))
        t = self.tally
        return {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
            "rounds": args.rounds,
            "parallel": args.parallel,
            "repos": args.repos,
            "seconds": round(wall, 1),
            "transfers": t.transfers,
            "pushes": t.pushes,
            "fetches": t.fetches,
            "clones": t.clones,
            "gb_pushed": round(t.bytes_pushed / 1e9, 2),
            "by_shape": t.by_shape,
            "failures": len(t.failures),
            "first_failures": t.failures[:5],
            "fsck_failures": fsck_failures,
            "server_log_tracebacks": tracebacks,
            "command": " ".join(sys.argv[1:]) or "(defaults)",
        }


def main() -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--parallel", type=int, default=4, help="transfers at once")
    p.add_argument("--repos", type=int, default=8)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--work", type=Path, default=Path("/var/tmp/gitward-soak"))
    p.add_argument("--output", type=Path, default=HERE / "soak.json")
    args = p.parse_args()
    if args.parallel > args.repos:
        p.error("--parallel must not exceed --repos")
    result = Soak(args).run()
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    results = HERE / "results.json"
    if args.output == HERE / "soak.json" and results.exists():
        from bench import report

        report.write(json.loads(results.read_text()), HERE)
    bad = result["failures"] or result["fsck_failures"] or result["server_log_tracebacks"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
