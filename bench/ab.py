"""Before and after the performance changes, side by side in one run.

bench/perf.patch holds the performance changes made for issue 6 (see
ANALYSIS.md). This phase copies src/gitward, applies the patch in reverse to the copy
("before"), and runs `gitward serve` from each tree on the same data directory, alternating:
big clones (server CPU per GB), sequential `git ls-remote` (CPU per connection), and the
in-process authentication decision on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import authscale, data, measure
from bench.measure import summary
from bench.servers import Client, GitwardServer

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def before_tree(work: Path) -> Path:
    tree = work / "before" / "src"
    shutil.rmtree(tree.parent, ignore_errors=True)
    shutil.copytree(SRC / "gitward", tree / "gitward",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    proc = subprocess.run(
        ["patch", "-R", "-p1", "-s", "-i", str(HERE / "perf.patch")],
        cwd=tree.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"bench/perf.patch does not reverse cleanly: {proc.stdout}{proc.stderr}")
    return tree


def _load_before_access(tree: Path) -> Any:
    path = tree / "gitward" / "services" / "ssh_access.py"
    spec = importlib.util.spec_from_file_location("gitward_before_ssh_access", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def auth_ab(args: argparse.Namespace, run_dir: Path, ids: data.Identities, small: Path,
            tree: Path) -> dict[str, Any]:  # fmt: skip
    from gitward.services import ssh_access as after

    before = _load_before_access(tree)
    blob = base64.b64decode(Path(f"{ids.ed25519}.pub").read_text().split()[1])
    out: dict[str, Any] = {}
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if authscale.pg_available(args.postgres_url) is None:
        backends.append(("postgresql", args.postgres_url))
    n, rounds = (100, 2) if args.quick else (200, 6)
    for backend, pg in backends:
        url = None
        if pg:
            authscale.pg_reset_schema(pg, "gwbench_ab")
            url = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3Dgwbench_ab"
        store = authscale.Store("ab", run_dir / f"ab-{backend}", url, ids, small, 10)
        try:
            batches: dict[str, list[float]] = {"before": [], "after": []}
            for r in range(rounds):
                order = [("before", before), ("after", after)]
                for name, module in order if r % 2 == 0 else order[::-1]:
                    took = []
                    for _ in range(n):
                        t0 = time.perf_counter()
                        module.authenticate(store.ctx, ssh_username="git", key_blob=blob,
                                            peer="127.0.0.1", signed=True)  # fmt: skip
                        took.append(time.perf_counter() - t0)
                    batches[name].append(statistics.median(took) * 1000)
            out[backend] = {k: summary(v) for k, v in batches.items()}
            print(f"  auth p50 {backend}: before {out[backend]['before']['median']:.2f} ms, "
                  f"after {out[backend]['after']['median']:.2f} ms")  # fmt: skip
        finally:
            store.close()
            if pg:
                authscale.pg_reset_schema(pg, "gwbench_ab", drop_only=True)
    return out


def run(args: argparse.Namespace, run_dir: Path, gw_data: Path, ids: data.Identities,
        small: Path) -> dict[str, Any]:  # fmt: skip
    tree = before_tree(run_dir)
    out: dict[str, Any] = {}
    servers = [GitwardServer("before", data_dir=gw_data, source=tree),
               GitwardServer("after", data_dir=gw_data)]  # fmt: skip
    try:
        for s in servers:
            s.start()
        home = run_dir / "ab-client"
        home.mkdir(exist_ok=True)
        (home / "known_hosts").write_text("".join(s.known_hosts_lines() for s in servers))
        client = Client(home, ids.ed25519)
        out["rate"] = measure.connection_rates(
            servers, {"ed25519": client}, "acme/small", args.conns, 3
        )["ed25519"]
        out["clone"] = measure.big_clones(servers, {"default": client}, "acme/big", 2, run_dir)[
            "default"
        ]
    finally:
        for s in servers:
            s.stop()
    out["auth"] = auth_ab(args, run_dir, ids, small, tree)
    return out
