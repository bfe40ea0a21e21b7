"""The connector's benchmarks (issue 10), by hand, never in CI:

    .venv/bin/python -m bench.connector [--quick] [--only index,sync,search]

* index:  the first index of a history of 100,000 commits (made with git fast-import)
  against ``git log`` printing the same fields (the connector's own --format, --raw,
  --no-renames) to /dev/null; the index runs in a child process whose peak RSS is reported,
  at 25,000 and 100,000 commits (bounded memory: the second must not be 4x the first).
* sync:   100 repositories on a stock sshd (git-shell), one new commit each, then
  ``connector sync`` of all 100 against plain ``git fetch --prune`` of 100 blobless mirrors
  of the same repositories, with the same ssh options and the same concurrency (4),
  alternating which goes first, 3 rounds.
* search: an index of 1,000,000 commits (10 repositories, 60 % mentioning one or two issue
  keys, each such commit on 1-2 of 20 branches) written straight into SQLite; the latency
  of ``services.connector_index.search`` (what the CLI and the API call) for 2,000 keys
  that exist and 200 that do not.

Writes bench/connector.json and re-renders bench/RESULTS.md's "Connector" section through
bench/report.py (the other sections are rendered from bench/results.json unchanged). Other
engineers share the machine: the load average is recorded at the start and the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "LC_ALL": "C",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, input=stdin, capture_output=True, check=True
    )
    return proc.stdout.decode()


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": git("--version").strip(),
        "ssh": ssh,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def fast_import(path: Path, commits: int, *, blob: int = 64, key_every: int = 3) -> None:
    """A bare repository with ``commits`` linear commits on main (a few dirs of small
    files; every ``key_every``-th message mentions an issue key), via git fast-import."""
    git("init", "-q", "--bare", "-b", "main", str(path))
    git("config", "uploadpack.allowFilter", "true", cwd=path)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet"], cwd=path, env=GIT_ENV, stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    rng = random.Random(commits)
    for n in range(1, commits + 1):
        data = rng.randbytes(blob)
        key = f"PROJ{n % 20}-{n}"
        message = (
            f"{key} change {n}\n\nDetails for {key}." if n % key_every == 0 else f"change {n}"
        ).encode()
        chunk = b"blob\nmark :1\ndata %d\n%s\n" % (len(data), data)
        chunk += b"commit refs/heads/main\n"
        chunk += b"author Bench <bench@example.com> %d +0000\n" % (1600000000 + n)
        chunk += b"committer Bench <bench@example.com> %d +0000\n" % (1600000000 + n)
        chunk += b"data %d\n%s\n" % (len(message), message)
        chunk += b"M 100644 :1 d%d/f%d.txt\n\n" % (n % 97, n % 1009)
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")


def median_range(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# ---- index ---------------------------------------------------------------------------------


def _index_child(data_dir: str, repo: str) -> None:
    """In a child process: a fresh store, one repository, index_mirror; print the figures."""
    from gitward.services import connector_repos
    from gitward.services.connector_index import index_mirror
    from gitward.services.context import open_context
    from gitward.settings import Settings
    from gitward.store.db import transaction
    from gitward.store.queries import connector as q

    ctx = open_context(Settings(data_dir=Path(data_dir)))
    connector_repos.add(ctx, "git@bench.example:big.git", name="big")
    with transaction(ctx.engine) as session:
        row = q.repository_by_name(session, "big")
        assert row is not None
        repo_id = row.id
    started = time.perf_counter()
    stats = index_mirror(ctx, repo_id, Path(repo))
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"seconds": seconds, "commits": stats.new_commits, "peak_rss_mb": peak_kb / 1024}
        )
    )


def _index_once(work: Path, repo: Path) -> dict[str, float]:
    data = work / f"index-{time.monotonic_ns()}"
    code = "import sys; from bench.connector import _index_child; _index_child(*sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data), str(repo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(data, ignore_errors=True)
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _git_log_once(repo: Path) -> float:
    from gitward.connector.log_records import LogFormat

    fmt = LogFormat.fresh()
    started = time.perf_counter()
    subprocess.run(
        [
            "git",
            "log",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "--diff-merges=first-parent",
            "--no-color",
            fmt.argument,
            "main",
        ],
        cwd=repo,
        env=GIT_ENV,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def phase_index(work: Path, commits: int, small: int, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {"commits": commits, "rounds": rounds}
    for size, label in ((small, "small"), (commits, "large")):
        repo = work / f"history-{size}.git"
        if not repo.exists():
            print(f"== index: making {size:,} commits with git fast-import", flush=True)
            fast_import(repo, size)
        logs, ours, rss = [], [], []
        for n in range(rounds):
            if n % 2 == 0:
                logs.append(_git_log_once(repo))
                figures = _index_once(work, repo)
            else:
                figures = _index_once(work, repo)
                logs.append(_git_log_once(repo))
            assert figures["commits"] == size, figures
            ours.append(figures["seconds"])
            rss.append(figures["peak_rss_mb"])
            print(
                f"   {size:,}: git log {logs[-1]:.2f} s, index {ours[-1]:.2f} s, "
                f"peak RSS {rss[-1]:.0f} MB",
                flush=True,
            )
        result[label] = {
            "commits": size,
            "git_log_s": median_range(logs),
            "index_s": median_range(ours),
            "peak_rss_mb": median_range(rss),
            "ratio": statistics.median(ours) / statistics.median(logs),
        }
    return result


# ---- sync ----------------------------------------------------------------------------------


def phase_sync(work: Path, repos: int, rounds: int, parallel: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.e2e.sshd_git import GitShellSshd

    from gitward.git import mirror
    from gitward.git.outbound import Identity, ssh_session
    from gitward.services import connector_hosts, connector_keys, connector_repos
    from gitward.services.connector_sync import sync_repositories
    from gitward.services.context import open_context
    from gitward.settings import Settings

    base = work / "sync"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    sshd = GitShellSshd(base / "sshd").start()
    try:
        settings = Settings(data_dir=base / "connector", connector_max_parallel=parallel)
        ctx = open_context(settings)
        connector_keys.generate(ctx)
        line = connector_keys.public_line(ctx)
        assert line is not None
        sshd.authorize(line)
        connector_hosts.pin(ctx, f"127.0.0.1:{sshd.port}", key_line=sshd.host_key_line())
        print(f"== sync: {repos} repositories on sshd port {sshd.port}", flush=True)
        works = []
        for n in range(repos):
            upstream = base / "up" / f"r{n:03d}.git"
            fast_import(upstream, 50, key_every=2)
            work_dir = base / "work" / f"r{n:03d}"
            git("clone", "-q", str(upstream), str(work_dir))
            works.append(work_dir)
            connector_repos.add(
                ctx, f"ssh://root@127.0.0.1:{sshd.port}{upstream}", name=f"r{n:03d}"
            )
        first = sync_repositories(ctx)
        assert all(r.ok for r in first), [r.line() for r in first if not r.ok][:3]
        keys = connector_keys.load_identities(ctx)
        assert keys.active is not None
        identity: Identity = keys.active.identity
        with ssh_session(
            base / "plain-run", [identity], connector_hosts.known_hosts_for(ctx), connect_timeout=10
        ) as session:
            env = mirror.env_with_ssh(session.git_ssh_command)
            plain = []
            for n in range(repos):
                path = base / "plain" / f"r{n:03d}.git"
                mirror.ensure_mirror(
                    path, f"ssh://root@127.0.0.1:{sshd.port}{base / 'up' / f'r{n:03d}.git'}"
                )
                assert mirror.fetch(path, env, 600).ok
                plain.append(path)

            def plain_fetch(path: Path) -> bool:
                return mirror.fetch(path, env, 600).ok

            ours, theirs = [], []
            for round_number in range(rounds):
                for n, work_dir in enumerate(works):
                    git(
                        "commit",
                        "-q",
                        "--allow-empty",
                        "-m",
                        f"PROJ-{round_number * 1000 + n} r",
                        cwd=work_dir,
                    )
                    git("push", "-q", "origin", "HEAD:main", cwd=work_dir)

                def run_ours() -> float:
                    started = time.perf_counter()
                    results = sync_repositories(ctx)
                    elapsed = time.perf_counter() - started
                    assert all(r.ok and r.new_commits == 1 for r in results), [
                        r.line() for r in results if not (r.ok and r.new_commits == 1)
                    ][:3]
                    return elapsed

                def run_theirs() -> float:
                    started = time.perf_counter()
                    with ThreadPoolExecutor(parallel) as pool:
                        assert all(pool.map(plain_fetch, plain))
                    return time.perf_counter() - started

                if round_number % 2 == 0:
                    ours.append(run_ours())
                    theirs.append(run_theirs())
                else:
                    theirs.append(run_theirs())
                    ours.append(run_ours())
                print(
                    f"   round {round_number + 1}: connector sync {ours[-1]:.2f} s, "
                    f"git fetch {theirs[-1]:.2f} s",
                    flush=True,
                )
        ctx.engine.dispose()
        return {
            "repositories": repos,
            "parallel": parallel,
            "rounds": rounds,
            "connector_sync_s": median_range(ours),
            "git_fetch_s": median_range(theirs),
            "ratio": statistics.median(ours) / statistics.median(theirs),
        }
    finally:
        sshd.stop()


# ---- search --------------------------------------------------------------------------------


def phase_search(
    work: Path, commits: int, queries: int, database_url: str | None
) -> dict[str, Any]:
    from sqlalchemy import insert

    from gitward.services import connector_repos
    from gitward.services.connector_index import search
    from gitward.services.context import open_context
    from gitward.settings import Settings
    from gitward.store.db import transaction
    from gitward.store.models import (
        ConnectorBranch,
        ConnectorCommit,
        ConnectorCommitBranch,
        ConnectorCommitKey,
    )
    from gitward.store.queries import connector as q

    data = work / "search"
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings(
        data_dir=data, database_url=database_url, ca_secret="bench-secret-0123456789"
    )
    ctx = open_context(settings)
    rng = random.Random(7)
    repo_ids, branch_ids = [], {}
    for n in range(10):
        connector_repos.add(ctx, f"git@bench.example:r{n}.git", name=f"r{n}")
        with transaction(ctx.engine) as session:
            row = q.repository_by_name(session, f"r{n}")
            assert row is not None
            repo_ids.append(row.id)
            ids = []
            for b in range(20):
                branch = ConnectorBranch(repository_id=row.id, name=f"branch-{b}", sha="0" * 40)
                session.add(branch)
                session.flush()
                ids.append(branch.id)
            branch_ids[row.id] = ids
    print(f"== search: writing {commits:,} commits", flush=True)
    started = time.perf_counter()
    keys_used: list[str] = []
    batch = 20000
    next_id = 1
    epoch = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for start in range(0, commits, batch):
        rows, links, contains = [], [], []
        for n in range(start, min(start + batch, commits)):
            repo = repo_ids[n % 10]
            keyed = rng.random() < 0.6
            rows.append(
                {
                    "id": next_id,
                    "repository_id": repo,
                    "sha": f"{n:040x}",
                    "authored_at": epoch + dt.timedelta(seconds=n * 37),
                    "author_name": f"Dev {n % 300}",
                    "author_email": f"dev{n % 300}@example.com",
                    "subject": f"change {n}",
                    "files_changed": n % 17,
                    "has_keys": keyed,
                    "reachable": True,
                }
            )
            if keyed:
                for _ in range(rng.choice((1, 1, 2))):
                    key = f"PROJ{rng.randrange(20)}-{rng.randrange(1, 25000)}"
                    links.append({"issue_key": key, "commit_id": next_id})
                    if len(keys_used) < 200000:
                        keys_used.append(key)
                for b in rng.sample(branch_ids[repo], rng.choice((1, 2))):
                    contains.append({"commit_id": next_id, "branch_id": b})
            next_id += 1
        with transaction(ctx.engine) as session:
            session.execute(insert(ConnectorCommit.__table__), rows)
            # Several mentions of one key in one commit collapse into one link.
            unique = list({(x["issue_key"], x["commit_id"]): x for x in links}.values())
            session.execute(insert(ConnectorCommitKey.__table__), unique)
            session.execute(insert(ConnectorCommitBranch.__table__), contains)
    load_seconds = time.perf_counter() - started
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"   written in {load_seconds:.0f} s; querying", flush=True)
    hits = [rng.choice(keys_used) for _ in range(queries)]
    misses = [f"NOPE{n}-{n + 1}" for n in range(queries // 10)]
    for key in hits[:50]:
        search(ctx, key)  # warm the cache, as a running server's is
    latencies, found = [], []
    for key in hits + misses:
        t0 = time.perf_counter()
        view = search(ctx, key)
        latencies.append((time.perf_counter() - t0) * 1000)
        found.append(len(view.commits))
    latencies_sorted = sorted(latencies)
    p = lambda q_: latencies_sorted[min(len(latencies_sorted) - 1, int(q_ * len(latencies_sorted)))]  # noqa: E731
    backend = "postgresql" if database_url else "sqlite"
    ctx.engine.dispose()
    if not database_url:
        shutil.rmtree(data, ignore_errors=True)
    return {
        "backend": backend,
        "commits": commits,
        "queries": len(latencies),
        "load_s": load_seconds,
        "p50_ms": p(0.50),
        "p99_ms": p(0.99),
        "max_ms": latencies_sorted[-1],
        "mean_hits": statistics.mean(found[: len(hits)]),
        "max_hits": max(found),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.connector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="index,sync,search")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to try the harness")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/gitward-bench-connector"))
    parser.add_argument("--postgres-url", default=None, help="also run search on PostgreSQL")
    parser.add_argument("--output", type=Path, default=HERE / "connector.json")
    args = parser.parse_args()
    quick = args.quick
    args.work.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    result: dict[str, Any] = {
        "machine": machine(),
        "loadavg_start": loadavg(),
        "command": " ".join(sys.argv[1:]) or "(defaults)",
    }
    clock = time.monotonic()

    def timed(figures: Any) -> dict[str, Any]:
        return {
            "figures": figures,
            "loadavg_end": loadavg(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }

    if "index" in only:
        start = loadavg()
        result["index"] = {
            **timed(
                phase_index(args.work, 2000 if quick else 100_000, 500 if quick else 25_000, 3)
            ),
            "loadavg_start": start,
        }
    if "sync" in only:
        start = loadavg()
        result["sync"] = {
            **timed(phase_sync(args.work, 5 if quick else 100, 1 if quick else 3, 4)),
            "loadavg_start": start,
        }
    if "search" in only:
        start = loadavg()
        runs = [
            phase_search(args.work, 20_000 if quick else 1_000_000, 200 if quick else 2000, None)
        ]
        if args.postgres_url:
            runs.append(
                phase_search(
                    args.work,
                    20_000 if quick else 1_000_000,
                    200 if quick else 2000,
                    args.postgres_url,
                )
            )
        result["search"] = {**timed(runs), "loadavg_start": start}
    result["loadavg_end"] = loadavg()
    result["seconds"] = time.monotonic() - clock
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    merged = {**previous, **result}  # a run of some phases keeps the others' figures
    args.output.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    results = HERE / "results.json"
    if args.output == HERE / "connector.json" and results.exists() and not quick:
        from bench import report

        report.write(json.loads(results.read_text()), HERE, plot_again=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
