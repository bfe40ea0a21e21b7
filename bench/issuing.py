"""Issuing: certificates per second through ``POST /api/v1/ssh/certificates`` at concurrency
1 and 16 (HTTP/1.1 keep-alive, one connection per worker), p50/p99 latency, and the same
certificates made by ``ssh-keygen -s`` run once per certificate; plus the service function
in process (no HTTP), to show where the time goes."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import data
from bench.measure import summary
from bench.servers import HOSTNAME, GitwardServer


def _percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": statistics.median(s) * 1000,
        "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1000,
    }


async def _worker(port: int, request: bytes, count: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    failures = 0
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                failures += 1
                if failures == 1:
                    print("  issue failed:", status, body[:300])
    finally:
        writer.close()
    return failures


def http_load(
    ports: int | list[int], token: str, public_key: str, total: int, concurrency: int
) -> dict:
    """``total`` issuing requests over ``concurrency`` connections, spread round-robin
    over ``ports`` (one ``gitward serve`` process each)."""
    ports = [ports] if isinstance(ports, int) else ports
    body = json.dumps({"public_key": public_key, "organization": "acme", "validity": "1h"}).encode()
    request = (
        b"POST /api/v1/ssh/certificates HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    latencies: list[float] = []

    async def run() -> int:
        share = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
        results = await asyncio.gather(
            *(_worker(ports[i % len(ports)], request, n, latencies) for i, n in enumerate(share))
        )
        return sum(results)

    t0 = time.perf_counter()
    failures = asyncio.run(run())
    wall = time.perf_counter() - t0
    return {"per_s": total / wall, "failures": failures, **_percentiles(latencies)}


def ssh_keygen_load(ca: Path, pub: Path, base: Path, total: int, concurrency: int) -> dict:
    dirs = []
    for i in range(concurrency):
        d = base / f"w{i}"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(pub, d / "key.pub")
        dirs.append(d)
    latencies: list[float] = []
    failures = 0

    def one(i: int) -> None:
        nonlocal failures
        d = dirs[i % concurrency]
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-s", str(ca), "-I", f"alice-{i}", "-n", "alice",
             "-V", "+1h", "-z", str(i + 1),
             "-O", f"extension:login@{HOSTNAME}=alice", "-O", f"extension:id@{HOSTNAME}=1",
             str(d / "key.pub")],
            capture_output=True, check=False,
        )  # fmt: skip
        latencies.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            failures += 1

    t0 = time.perf_counter()
    if concurrency == 1:
        for i in range(total):
            one(i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(total)))
    wall = time.perf_counter() - t0
    return {"per_s": total / wall, "failures": failures, **_percentiles(latencies)}


def run(
    args: argparse.Namespace, run_dir: Path, ids: data.Identities, profile_dir: Path | None
) -> dict[str, Any]:
    from gitward.services import managed_ca, tokens
    from gitward.services.context import open_context
    from gitward.services.issuing import Issuer, IssueRequest
    from gitward.settings import Settings

    data_dir = run_dir / "gitward" / "data"
    ctx = open_context(Settings(data_dir=data_dir, hostname=HOSTNAME))
    try:
        managed_ca.create_managed_ca(ctx, org="acme")
        token = tokens.create_token(ctx, "alice").token
        public_key = Path(f"{ids.ed25519}.pub").read_text().strip()
        n1, n16, reps = (100, 200, 2) if args.quick else (600, 1500, 3)
        # In process, one thread: the service function alone (no HTTP, no event loop).
        issuer = Issuer(ctx)
        req = IssueRequest(public_key=public_key, organization="acme", validity="1h",
                           peer="127.0.0.1")  # fmt: skip
        for _ in range(20):
            issuer.issue(token, req)
        t0 = time.perf_counter()
        lat = []
        for _ in range(n1):
            s = time.perf_counter()
            issuer.issue(token, req)
            lat.append(time.perf_counter() - s)
        in_process = {"per_s": n1 / (time.perf_counter() - t0), **_percentiles(lat)}
        print(f"  in process: {in_process['per_s']:.0f}/s, p99 {in_process['p99_ms']:.1f} ms")
    finally:
        ctx.engine.dispose()

    out: dict[str, Any] = {"in_process": in_process, "http": {}, "ssh_keygen": {}}
    nk1, nk16 = (50, 100) if args.quick else (200, 500)
    out["sizes"] = {"http_c1": n1, "http_c16": n16, "reps": reps, "keygen_c1": nk1,
                    "keygen_c16": nk16}  # fmt: skip
    # `gitward serve` runs the HTTP API (uvicorn, in a thread) beside the SSH server.
    server = GitwardServer("gitward-issuer", data_dir=data_dir)
    try:
        server.start()
        if not server.http_url:
            raise RuntimeError("gitward serve did not start its HTTP API")
        port = int(server.http_url.rsplit(":", 1)[1].rstrip("/"))
        http_load(port, token, public_key, 50, 4)  # warm up
        for conc, total in ((1, n1), (16, n16)):
            runs = []
            for _ in range(reps):
                cpu0 = server.cpu()
                r = http_load(port, token, public_key, total, conc)
                r["server_cpu_ms_per_cert"] = (server.cpu() - cpu0).total * 1000 / total
                runs.append(r)
                print(f"  HTTP c={conc:2d}: {r['per_s']:.0f}/s, p50 {r['p50_ms']:.1f} ms, "
                      f"p99 {r['p99_ms']:.1f} ms, {r['server_cpu_ms_per_cert']:.2f} ms CPU/cert, "
                      f"{r['failures']} failed")  # fmt: skip
            out["http"][str(conc)] = {
                "per_s": summary([r["per_s"] for r in runs]),
                "p50_ms": summary([r["p50_ms"] for r in runs]),
                "p99_ms": summary([r["p99_ms"] for r in runs]),
                "server_cpu_ms_per_cert": summary([r["server_cpu_ms_per_cert"] for r in runs]),
                "failures": sum(r["failures"] for r in runs),
                "requests": total * reps,
            }
        if profile_dir is not None:
            from bench.profile import record, summarize

            raw = profile_dir / "issuing.raw.txt"
            raw.unlink(missing_ok=True)
            record(server.pid, raw, lambda: http_load(port, token, public_key, n16, 16))
            if raw.exists():
                text, shares = summarize(raw)
                (profile_dir / "issuing.top.txt").write_text(text)
                out["profile_top_self"] = shares
    finally:
        server.stop()

    for conc, total in ((1, nk1), (16, nk16)):
        runs = [ssh_keygen_load(ids.ca, Path(f"{ids.ed25519}.pub"), run_dir / "keygen",
                                total, conc) for _ in range(reps)]  # fmt: skip
        for r in runs:
            print(f"  ssh-keygen -s c={conc:2d}: {r['per_s']:.0f}/s, p99 {r['p99_ms']:.1f} ms")
        out["ssh_keygen"][str(conc)] = {
            "per_s": summary([r["per_s"] for r in runs]),
            "p50_ms": summary([r["p50_ms"] for r in runs]),
            "p99_ms": summary([r["p99_ms"] for r in runs]),
            "failures": sum(r["failures"] for r in runs),
            "certificates": total * reps,
        }
    return out
