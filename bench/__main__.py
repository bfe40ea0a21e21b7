"""Gitward against OpenSSH sshd + git-shell, side by side in one run.

    ./bench/run [--quick] [--only rate,clone,concurrency,auth,issue,profile]

Sets up everything in --work (default /var/tmp/gitward-bench): deterministic repositories
(cached between runs), keys, a CA and a certificate, a Gitward data directory, an sshd with
its own config, host keys and a git-shell account; runs the measurements; writes
bench/results.json, bench/RESULTS.md and bench/clone-concurrency.png; stops everything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import data, measure
from bench.servers import HOSTNAME, Client, GitwardServer, OpenSSHServer, Server

HERE = Path(__file__).resolve().parent
PHASES = ("rate", "clone", "concurrency", "push", "auth", "issue", "profile", "ab", "workers")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--work",
        type=Path,
        default=Path("/var/tmp/gitward-bench"),
        help="scratch directory (repositories are cached here between runs)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, to try the harness")
    p.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases, of {','.join(PHASES)}"
    )
    p.add_argument("--reps", type=int, default=4, help="repetitions per server")
    p.add_argument("--conns", type=int, default=20, help="sequential ls-remote per repetition")
    p.add_argument("--big-mb", type=int, default=500, help="size of the clone repository")
    p.add_argument("--clone-reps", type=int, default=3)
    p.add_argument("--levels", default="1,10,50,200", help="concurrent clone counts")
    p.add_argument("--conc-reps", type=int, default=2)
    p.add_argument(
        "--workers-levels", default="200", help="simultaneous clones in the workers phase"
    )
    p.add_argument("--workers-reps", type=int, default=3)
    p.add_argument(
        "--workers-profile", action="store_true", help="profile the workers phase (py-spy)"
    )
    p.add_argument("--push-reps", type=int, default=4, help="large pushes per server and cipher")
    p.add_argument("--push-sequential", type=int, default=100)
    p.add_argument("--push-simultaneous", type=int, default=50)
    p.add_argument("--keys", type=int, default=1_000_000, help="registered keys at scale")
    p.add_argument("--cas", type=int, default=10_000)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "GITWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL database the bench may create schemas gwbench_* in ('' to skip)",
    )
    p.add_argument("--output", type=Path, default=HERE / "results.json")
    args = p.parse_args()
    if args.quick:
        args.reps, args.conns, args.big_mb, args.clone_reps = 2, 5, 40, 2
        args.levels, args.conc_reps, args.keys, args.cas = "1,10,50", 1, 20_000, 500
        args.workers_levels, args.workers_reps = "50", 1
        args.push_reps, args.push_sequential, args.push_simultaneous = 2, 10, 10
    return args


def run_phase(
    results: dict[str, object],
    phases: set[str],
    name: str,
    title: str,
    work: Callable[[], object],
    save: Callable[[], None],
    key: str | None = None,
) -> None:
    """Run one phase if asked; a failure is reported and recorded, and the next phase runs."""
    if name not in phases:
        return
    print(f"== {title}", flush=True)
    t0 = time.monotonic()
    run = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "loadavg_at_start": _loadavg()}  # fmt: skip
    try:
        results[key or name] = work()
    except Exception:
        traceback.print_exc()
        failed = results.setdefault("failed_phases", [])
        assert isinstance(failed, list)
        failed.append(name)
    timings = results.setdefault("phase_seconds", {})
    assert isinstance(timings, dict)
    timings[name] = round(time.monotonic() - t0, 1)
    # When and under what load each phase was measured: a partial run (--only) keeps the
    # other phases' figures, which were measured on another day.
    runs = results.setdefault("phase_runs", {})
    assert isinstance(runs, dict)
    runs[name] = {**run, "loadavg_at_end": _loadavg(), "seconds": timings[name]}
    print(f"   ({name}: {timings[name]} s)", flush=True)
    save()


def _loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def machine() -> dict[str, object]:
    def version(*cmd: str) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]

    import asyncssh
    import cryptography

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "asyncssh": asyncssh.__version__,
        "cryptography": cryptography.__version__,
        "openssh_server": version("/usr/sbin/sshd", "-V"),
        "openssh_client": version("ssh", "-V"),
        "git": version("git", "--version"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def _phase_runs(previous: dict[str, object]) -> dict[str, object]:
    """The previous results' per-phase runs; results written before phases were recorded
    one by one get theirs from that run's machine record."""
    runs = previous.get("phase_runs")
    if isinstance(runs, dict):
        return runs
    m = previous.get("machine", {})
    seconds = previous.get("phase_seconds", {})
    assert isinstance(m, dict) and isinstance(seconds, dict)
    return {
        name: {"date": m.get("date"), "loadavg_at_start": m.get("loadavg_at_start"),
               "loadavg_at_end": previous.get("loadavg_at_end"), "seconds": secs}
        for name, secs in seconds.items()
    }  # fmt: skip


def setup_gitward(data_dir: Path, ids: data.Identities, repos: dict[str, Path]) -> None:
    from gitward.services import accounts, authorities, orgs, repositories
    from gitward.services.context import open_context
    from gitward.settings import Settings

    ctx = open_context(Settings(data_dir=data_dir, hostname=HOSTNAME))
    try:
        accounts.create_user(ctx, "alice")
        data.sign_certificate(ids)
        for key in (ids.ed25519, ids.rsa):
            accounts.add_key(ctx, "alice", Path(f"{key}.pub").read_bytes())
        orgs.create_org(ctx, "acme")
        orgs.add_member(ctx, "acme", "alice", "owner")
        authorities.add_ca(ctx, Path(f"{ids.ca}.pub").read_bytes(), org="acme")
        for name, source in repos.items():
            repositories.create_repo(ctx, f"acme/{name}")
            data.install_repo(source, data_dir / "repos" / "acme" / f"{name}.git")
    finally:
        ctx.engine.dispose()


def main() -> int:
    args = parse_args()
    phases = set(args.only.split(","))
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    results: dict[str, object] = {"machine": machine(), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}  # fmt: skip
    started = time.monotonic()
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}

    def merged() -> dict[str, object]:
        # A partial run (--only) keeps the other phases' figures from the last run.
        if phases != set(PHASES) and previous:
            runs = {**_phase_runs(previous), **results.get("phase_runs", {})}  # type: ignore[dict-item]
            return {**previous, **results, "phase_runs": runs}
        return results

    def save() -> None:
        args.output.write_text(json.dumps(merged(), indent=2, default=str) + "\n")

    # The services log as the server does (structlog, info), into a file, not the terminal.
    from gitward.logging import configure_logging

    real_stderr, sys.stderr = sys.stderr, (run_dir / "bench-services.log").open("w")
    configure_logging("info")
    sys.stderr = real_stderr

    print("== setting up (repositories are cached in", work / "cache", ")")
    small = data.cached_repo(work / "cache", "small", data.make_small_repo)
    big = data.cached_repo(work / "cache", f"big{args.big_mb}", data.make_big_repo, args.big_mb)
    results["repos"] = {"small_pack_bytes": data.pack_bytes(small),
                        "big_pack_bytes": data.pack_bytes(big)}  # fmt: skip
    ids = data.make_identities(work / "keys")
    gw_data = run_dir / "gitward" / "data"
    setup_gitward(gw_data, ids, {"small": small, "big": big})

    servers: list[Server] = []
    try:
        gitward = GitwardServer("gitward", data_dir=gw_data).start()
        servers.append(gitward)
        openssh = OpenSSHServer(
            "openssh",
            base=run_dir / "openssh",
            repos_dir=gw_data / "repos",
            authorized_keys=[Path(f"{ids.ed25519}.pub"), Path(f"{ids.rsa}.pub")],
            ca_pub=Path(f"{ids.ca}.pub"),
        ).start()
        servers.append(openssh)
        ordered = [openssh, gitward]
        home = run_dir / "client"
        home.mkdir()
        (home / "known_hosts").write_text("".join(s.known_hosts_lines() for s in servers))
        clients = {
            "ed25519": Client(home, ids.ed25519),
            "rsa4096": Client(home, ids.rsa),
            "cert": Client(home, ids.cert_key, ids.cert),
        }
        for s in ordered:  # both serve the same repository before anything is measured
            proc = clients["ed25519"].git(s, "ls-remote", s.url("acme/small"))
            if proc.returncode != 0:
                raise RuntimeError(f"{s.name} does not serve: {proc.stderr.decode()}")
        print("   openssh on port", openssh.port, "| gitward on port", gitward.port)

        def phase(name: str, title: str, work: Callable[[], object]) -> None:
            run_phase(results, phases, name, title, work, save)

        phase("rate", "connection rate: sequential git ls-remote",
              lambda: measure.connection_rates(ordered, clients, "acme/small", args.conns,
                                               args.reps))  # fmt: skip
        cipher_clients = {
            "default": clients["ed25519"],
            "aes128-gcm": Client(home, ids.ed25519, ciphers="aes128-gcm@openssh.com"),
        }
        phase("clone", f"clone of a {data.pack_bytes(big) / 1e6:.0f} MB repository",
              lambda: measure.big_clones(ordered, cipher_clients, "acme/big", args.clone_reps,
                                         run_dir))  # fmt: skip
        levels = [int(x) for x in args.levels.split(",")]
        phase("concurrency", "concurrent clones of the small repository",
              lambda: measure.concurrency(ordered, clients["ed25519"], "acme/small", levels,
                                          args.conc_reps, run_dir))  # fmt: skip

        def push_phase() -> object:
            from bench import pushes

            return pushes.run(ordered, cipher_clients, big, gw_data, run_dir,
                              reps=args.push_reps, sequential=args.push_sequential,
                              simultaneous=args.push_simultaneous)  # fmt: skip

        phase("push", f"pushes: {data.pack_bytes(big) / 1e6:.0f} MB, sequential, simultaneous",
              push_phase)  # fmt: skip

        def profiles() -> object:
            from bench import profile

            return profile.profile_gitward(gitward, clients["ed25519"], HERE / "profiles",
                                           quick=args.quick)  # fmt: skip

        run_phase(results, phases, "profile", "profiles of gitward (py-spy)", profiles, save,
                  key="profiles")  # fmt: skip

        def workers_phase() -> object:
            from bench import workers

            wl = [int(x) for x in args.workers_levels.split(",")]
            return workers.run(openssh, gw_data, clients["ed25519"], home / "known_hosts",
                               servers, run_dir, repo="acme/small", levels=wl,
                               reps=args.workers_reps,
                               profile_dir=HERE / "profiles" if "profile" in phases
                               or args.workers_profile else None)  # fmt: skip

        phase("workers", "simultaneous clones at 1 and 2 gitward workers (serve --workers)",
              workers_phase)  # fmt: skip
    finally:
        for s in servers:
            s.stop()

    def ab_phase() -> object:
        from bench import ab

        return ab.run(args, run_dir, gw_data, ids, small)

    def auth_phase() -> object:
        from bench import authscale

        return authscale.run(args, run_dir, ids, small)

    def issue_phase() -> object:
        from bench import issuing

        return issuing.run(args, run_dir, ids, HERE / "profiles" if "profile" in phases else None)

    run_phase(results, phases, "ab", "before and after the performance changes (bench/perf.patch)",
              ab_phase, save)  # fmt: skip
    run_phase(results, phases, "auth", "authentication at scale", auth_phase, save)
    run_phase(results, phases, "issue", "issuing certificates", issue_phase, save)

    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    save()
    print("== results written to", args.output, f"({results['elapsed_s']} s)")
    from bench import report

    report.write(merged(), args.output.parent)
    failed = results.get("failed_phases") or []
    if failed:
        print("== phases that failed:", ", ".join(failed), "(see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
