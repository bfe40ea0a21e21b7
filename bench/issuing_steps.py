"""Issuing at concurrency 16, step by step: one quick, self-contained run against a real
``gitward serve`` on SQLite or PostgreSQL, for the before/after rows of RESULTS.md.

    .venv/bin/python -m bench.issuing_steps --db sqlite --label baseline
    .venv/bin/python -m bench.issuing_steps --db postgresql --label group-commit --profile

Each run sets up a fresh store (user alice, organization acme, one managed Ed25519 CA, a
token), starts ``gitward serve`` (HTTP port 0), warms up, then runs ``--reps`` repetitions
of ``--total`` requests at ``--concurrency`` (HTTP/1.1 keep-alive, one connection per
worker, the same client as bench/issuing.py) and prints the median and the best. Every
repetition checks afterwards that the inventory holds exactly the certificates answered 201.
One JSON line per run goes to bench/issuing-steps.jsonl, with ``uptime`` before and after.
``--profile`` records the server with py-spy during one more repetition and writes the
hottest functions to bench/profiles/issuing-<label>-<db>.top.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.issuing import http_load
from bench.servers import HOSTNAME, GitwardServer

HERE = Path(__file__).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "gwbench_issue"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _setup(data_dir: Path, url: str | None) -> tuple[str, str, dict[str, str]]:
    from gitward.services import accounts, managed_ca, orgs, tokens
    from gitward.services.context import open_context
    from gitward.settings import Settings

    env: dict[str, str] = {}
    extra: dict[str, object] = {}
    if url:
        secret = data_dir.parent / "ca-secret"
        secret.write_text("bench-secret-bench-secret-bench-secret-0123456789\n")
        secret.chmod(0o600)
        extra = {"database_url": url, "ca_secret_file": secret}
        env = {"GITWARD_DATABASE_URL": url, "GITWARD_CA_SECRET_FILE": str(secret)}
    ctx = open_context(Settings(data_dir=data_dir, hostname=HOSTNAME, **extra))  # type: ignore[arg-type]
    try:
        accounts.create_user(ctx, "alice")
        orgs.create_org(ctx, "acme")
        orgs.add_member(ctx, "acme", "alice", "owner")
        managed_ca.create_managed_ca(ctx, org="acme")
        token = tokens.create_token(ctx, "alice").token
    finally:
        ctx.engine.dispose()
    key = data_dir.parent / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return token, Path(f"{key}.pub").read_text().strip(), env


def _recorded(data_dir: Path, url: str | None) -> int:
    from sqlalchemy import text

    from gitward.store.db import make_engine

    engine = make_engine(url or f"sqlite:///{data_dir / 'gitward.db'}")
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM issued_certificates WHERE certificate IS NOT NULL")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("GITWARD_BENCH_POSTGRES_URL",
                                                                 DEFAULT_PG))  # fmt: skip
    parser.add_argument("--label", default="run")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--processes", type=int, default=1, help="gitward serve processes on the one store"
    )
    parser.add_argument(
        "--source", type=Path, help="serve another copy of Gitward (a directory holding gitward/)"
    )
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="hide httptools and uvloop from the server: uvicorn's h11 and asyncio's loop",
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gw-issue-"))
    url: str | None = None
    if args.db == "postgresql":
        from bench.authscale import pg_reset_schema

        pg_reset_schema(args.postgres_url, SCHEMA)
        sep = "&" if "?" in args.postgres_url else "?"
        url = f"{args.postgres_url}{sep}options=-csearch_path%3D{SCHEMA}"
    data_dir = work / "data"
    servers: list[GitwardServer] = []
    try:
        token, public_key, env = _setup(data_dir, url)
        for item in args.env:
            name, _, value = item.partition("=")
            env[name] = value
        if args.plain_http:
            shim = work / "no-c-http"
            shim.mkdir()
            for name in ("httptools", "uvloop"):
                (shim / f"{name}.py").write_text(f"raise ImportError('{name} hidden')\n")
            paths = [str(shim)] + ([str(args.source)] if args.source else [])
            env["PYTHONPATH"] = ":".join(paths)
        servers = []
        for i in range(args.processes):
            servers.append(
                GitwardServer(
                    f"gitward-issuer-{i}", data_dir=data_dir, env_extra=env, source=args.source
                ).start()
            )
        server = servers[0]
        ports = []
        for s_ in servers:
            assert s_.http_url, "no HTTP API"
            ports.append(int(s_.http_url.rsplit(":", 1)[1].rstrip("/")))
        http_load(ports, token, public_key, 300, args.concurrency)  # warm up
        load_before = _load()
        runs = []
        for _ in range(args.reps):
            before = _recorded(data_dir, url)
            cpu0 = [s_.cpu() for s_ in servers]
            r = http_load(ports, token, public_key, args.total, args.concurrency)
            cpu = sum((s_.cpu() - c).total for s_, c in zip(servers, cpu0, strict=True))
            r["server_cpu_ms_per_cert"] = cpu * 1000 / args.total
            r["recorded"] = _recorded(data_dir, url) - before
            runs.append(r)
            print(f"  {args.label} {args.db} c={args.concurrency}: {r['per_s']:.0f}/s, "
                  f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                  f"{r['server_cpu_ms_per_cert']:.2f} ms CPU/cert, {r['failures']} failed, "
                  f"{r['recorded']} recorded", flush=True)  # fmt: skip
        load_after = _load()
        if args.profile:
            from bench import profile as bench_profile
            from bench.profile import summarize

            def record(pid: int, out: Path, work: object) -> None:
                # --gil: only the thread holding the GIL, i.e. where the CPU goes (this
                # process is GIL-bound); the wall-clock profile mostly shows waiting.
                spy = subprocess.Popen(
                    [str(bench_profile.PY_SPY), "record", "--pid", str(pid), "--gil",
                     "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(out)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
                time.sleep(1.0)
                try:
                    work()  # type: ignore[operator]
                finally:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)

            prof_dir = HERE / "profiles"
            prof_dir.mkdir(exist_ok=True)
            raw = work / "issuing.raw.txt"
            record(
                server.pid,
                raw,
                lambda: http_load(ports, token, public_key, args.total, args.concurrency),
            )
            if raw.exists():
                text, _ = summarize(raw, top=40)
                out = prof_dir / f"issuing-{args.label}-{args.db}.top.txt"
                out.write_text(text)
                shutil.copy(raw, prof_dir / f"issuing-{args.label}-{args.db}.raw.txt")
                print(f"  profile: {out}")
    finally:
        for s_ in servers:
            s_.stop()
        if url:
            from bench.authscale import pg_reset_schema

            pg_reset_schema(args.postgres_url, SCHEMA, drop_only=True)
        shutil.rmtree(work, ignore_errors=True)

    rates = [r["per_s"] for r in runs]
    p99s = [r["p99_ms"] for r in runs]
    line = {
        "label": args.label,
        "db": args.db,
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "concurrency": args.concurrency,
        "total": args.total,
        "reps": args.reps,
        "per_s_median": round(statistics.median(rates)),
        "per_s_best": round(max(rates)),
        "p50_ms_median": round(statistics.median(r["p50_ms"] for r in runs), 1),
        "p99_ms_median": round(statistics.median(p99s), 1),
        "p99_ms_best": round(min(p99s), 1),
        "cpu_ms_per_cert_median": round(
            statistics.median(r["server_cpu_ms_per_cert"] for r in runs), 2
        ),
        "failures": sum(r["failures"] for r in runs),
        "unrecorded": sum(args.total - r["failures"] - r["recorded"] for r in runs),
        "load_before": load_before,
        "load_after": load_after,
        "env": args.env,
        "processes": args.processes,
        "source": str(args.source) if args.source else None,
        "plain_http": args.plain_http,
    }
    with (HERE / "issuing-steps.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
