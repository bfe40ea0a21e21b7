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
from pathlib import Path

from bench import data, measure
from bench.servers import HOSTNAME, Client, GitwardServer, OpenSSHServer, Server

HERE = Path(__file__).resolve().parent
PHASES = ("rate", "clone", "concurrency", "auth", "issue", "profile")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/var/tmp/gitward-bench"))
    p.add_argument("--quick", action="store_true", help="tiny sizes, to try the harness")
    p.add_argument("--only", default=",".join(PHASES), help="comma-separated phases")
    p.add_argument("--reps", type=int, default=5, help="repetitions per server")
    p.add_argument("--conns", type=int, default=25, help="sequential ls-remote per repetition")
    p.add_argument("--big-mb", type=int, default=500, help="size of the clone repository")
    p.add_argument("--clone-reps", type=int, default=3)
    p.add_argument("--levels", default="1,10,50,200", help="concurrent clone counts")
    p.add_argument("--conc-reps", type=int, default=3)
    p.add_argument("--keys", type=int, default=1_000_000, help="registered keys at scale")
    p.add_argument("--cas", type=int, default=10_000)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "GITWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL database the bench may create the schema gwbench in ('' to skip)",
    )
    p.add_argument("--output", type=Path, default=HERE / "results.json")
    args = p.parse_args()
    if args.quick:
        args.reps, args.conns, args.big_mb, args.clone_reps = 2, 5, 40, 2
        args.levels, args.conc_reps, args.keys, args.cas = "1,10,50", 1, 20_000, 500
    return args


def machine() -> dict[str, object]:
    def version(*cmd: str) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]

    import asyncssh
    import cryptography

    mem_kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal"))
                 .split()[1])  # fmt: skip
    model = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
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
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


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

        if "rate" in phases:
            print("== connection rate: sequential git ls-remote")
            results["rate"] = measure.connection_rates(
                ordered, clients, "acme/small", args.conns, args.reps
            )
        if "clone" in phases:
            print(f"== clone of a {data.pack_bytes(big) / 1e6:.0f} MB repository")
            cipher_clients = {
                "default": clients["ed25519"],
                "aes128-gcm": Client(home, ids.ed25519, ciphers="aes128-gcm@openssh.com"),
            }
            results["clone"] = measure.big_clones(
                ordered, cipher_clients, "acme/big", args.clone_reps, run_dir
            )
        if "concurrency" in phases:
            print("== concurrent clones of the small repository")
            levels = [int(x) for x in args.levels.split(",")]
            results["concurrency"] = measure.concurrency(
                ordered, clients["ed25519"], "acme/small", levels, args.conc_reps, run_dir
            )
        if "profile" in phases:
            from bench import profile

            print("== profiles of gitward (py-spy)")
            results["profiles"] = profile.profile_gitward(
                gitward, clients["ed25519"], HERE / "profiles", quick=args.quick
            )
    finally:
        for s in servers:
            s.stop()

    if "auth" in phases:
        from bench import authscale

        print("== authentication at scale")
        results["auth"] = authscale.run(args, run_dir, ids, small)
    if "issue" in phases:
        from bench import issuing

        print("== issuing certificates")
        results["issue"] = issuing.run(
            args, run_dir, ids, HERE / "profiles" if "profile" in phases else None
        )

    results["elapsed_s"] = round(time.monotonic() - started, 1)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    if phases != set(PHASES) and previous:
        previous.update({k: v for k, v in results.items()})
        results = previous
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("== results written to", args.output, f"({results['elapsed_s']} s)")
    from bench import report

    report.write(results, HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
