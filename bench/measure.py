"""The SSH workloads, each run against both servers alternately (the order flips every
repetition) so that a noisy machine moves both sides alike."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.data import pack_bytes
from bench.servers import Client, Server


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def alternate(servers: list[Server], rep: int) -> list[Server]:
    return servers if rep % 2 == 0 else list(reversed(servers))


def settle(server: Server) -> None:
    left = procs.wait_reaped(server.pid, timeout=15, keep=server.resident_children)
    if left:
        print(f"  note: {server.name} still has {left} child processes")


@dataclass
class RateSample:
    conns_per_s: float
    cpu_ms_per_conn: float
    failures: int


def ls_remote_rate(server: Server, client: Client, repo: str, n: int) -> RateSample:
    settle(server)
    cpu0 = server.cpu()
    failures = 0
    t0 = time.perf_counter()
    for _ in range(n):
        proc = client.git(server, "ls-remote", server.url(repo), timeout=60)
        if proc.returncode != 0:
            failures += 1
            if failures == 1:
                print(f"  ls-remote failed on {server.name}: {proc.stderr.decode()[-400:]}")
    wall = time.perf_counter() - t0
    settle(server)
    cpu = server.cpu() - cpu0
    return RateSample(n / wall, cpu.total * 1000 / n, failures)


def connection_rates(
    servers: list[Server], clients: dict[str, Client], repo: str, n: int, reps: int
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for ident, client in clients.items():
        samples: dict[str, list[RateSample]] = {s.name: [] for s in servers}
        for rep in range(reps):
            for server in alternate(servers, rep):
                s = ls_remote_rate(server, client, repo, n)
                samples[server.name].append(s)
                print(
                    f"  rate {ident:8s} {server.name:8s} rep {rep}: {s.conns_per_s:6.1f} conn/s, "
                    f"{s.cpu_ms_per_conn:6.1f} ms CPU/conn, {s.failures} failed"
                )
        out[ident] = {
            name: {
                "conns_per_s": summary([x.conns_per_s for x in xs]),
                "cpu_ms_per_conn": summary([x.cpu_ms_per_conn for x in xs]),
                "failures": sum(x.failures for x in xs),
                "connections": n * reps,
            }
            for name, xs in samples.items()
        }
    return out


@dataclass
class CloneSample:
    mb_per_s: float
    bytes: int
    seconds: float
    cpu_total: float
    cpu_own: float
    cpu_children: float
    peak_rss_kb: int


def one_clone(server: Server, client: Client, repo: str, dest: Path) -> CloneSample:
    shutil.rmtree(dest, ignore_errors=True)
    settle(server)
    cpu0 = server.cpu()
    with procs.TreeSampler(server.pid, 0.2, server.helper_root) as sampler:
        t0 = time.perf_counter()
        proc = client.git(server, "clone", "-q", "--no-checkout", server.url(repo), str(dest))
        wall = time.perf_counter() - t0
        settle(server)
    if proc.returncode != 0:
        raise RuntimeError(f"clone from {server.name} failed: {proc.stderr.decode()[-500:]}")
    cpu = server.cpu() - cpu0
    size = pack_bytes(dest / ".git")
    shutil.rmtree(dest, ignore_errors=True)
    return CloneSample(
        size / 1e6 / wall, size, wall, cpu.total, cpu.own, cpu.children, sampler.peak_rss_kb
    )


def big_clones(
    servers: list[Server],
    clients: dict[str, Client],
    repo: str,
    reps: int,
    scratch: Path,
) -> dict[str, dict[str, object]]:
    """``clients``: one per cipher setting (label -> client)."""
    out: dict[str, dict[str, object]] = {}
    for label, client in clients.items():
        samples: dict[str, list[CloneSample]] = {s.name: [] for s in servers}
        ciphers = {s.name: client.negotiated_cipher(s) for s in servers}
        for rep in range(reps):
            for server in alternate(servers, rep):
                s = one_clone(server, client, repo, scratch / "big-clone")
                samples[server.name].append(s)
                print(
                    f"  clone {label:8s} {server.name:8s} rep {rep}: {s.mb_per_s:6.1f} MB/s, "
                    f"{s.bytes / 1e6:.0f} MB, CPU {s.cpu_total:.2f} s (own {s.cpu_own:.2f}, "
                    f"children {s.cpu_children:.2f})"
                )
        out[label] = {}
        for name, xs in samples.items():
            gb = [x.bytes / 1e9 for x in xs]
            out[label][name] = {
                "cipher": ciphers[name],
                "bytes": xs[0].bytes,
                "mb_per_s": summary([x.mb_per_s for x in xs]),
                "cpu_s_per_gb": summary([x.cpu_total / g for x, g in zip(xs, gb, strict=True)]),
                "own_cpu_s_per_gb": summary([x.cpu_own / g for x, g in zip(xs, gb, strict=True)]),
                "children_cpu_s_per_gb": summary(
                    [x.cpu_children / g for x, g in zip(xs, gb, strict=True)]
                ),
                "peak_rss_mb": summary([x.peak_rss_kb / 1024 for x in xs]),
            }
    return out


@dataclass
class ConcurrencySample:
    seconds: float
    failures: int
    peak_rss_kb: int
    peak_processes: int
    peak_fds: int
    fds_after: int
    fds_before: int
    cpu_total: float
    bytes: int
    first_error: str
    cpu_own: float = 0.0  # the server's own processes (the SSH layer)
    cpu_children: float = 0.0  # what they reaped: git (and sshd's per-connection children)


def concurrent_clones(
    server: Server, client: Client, repo: str, count: int, scratch: Path
) -> ConcurrencySample:
    base = scratch / f"conc-{server.name}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    settle(server)
    fds_before = procs.tree_fds(server.pid, server.helper_root)
    cpu0 = server.cpu()
    with procs.TreeSampler(server.pid, 0.1, server.helper_root) as sampler:
        t0 = time.perf_counter()
        running = [
            client.popen_git(server, "clone", "-q", "--no-checkout", server.url(repo),
                             str(base / f"c{i}"))
            for i in range(count)
        ]  # fmt: skip
        errors = []
        for p in running:
            try:
                _, err = p.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            if p.returncode != 0:
                errors.append(err.decode(errors="replace").strip()[-300:])
        wall = time.perf_counter() - t0
        settle(server)
    cpu = server.cpu() - cpu0
    fds_after = procs.tree_fds(server.pid, server.helper_root)
    received = sum(pack_bytes(base / f"c{i}" / ".git") for i in range(count)
                   if (base / f"c{i}" / ".git").exists())  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)
    return ConcurrencySample(
        wall,
        len(errors),
        sampler.peak_rss_kb,
        sampler.peak_processes,
        sampler.peak_fds,
        fds_after,
        fds_before,
        cpu.total,
        received,
        errors[0] if errors else "",
        cpu.own,
        cpu.children,
    )


def concurrency(
    servers: list[Server],
    client: Client,
    repo: str,
    levels: list[int],
    reps: int,
    scratch: Path,
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for level in levels:
        samples: dict[str, list[ConcurrencySample]] = {s.name: [] for s in servers}
        for rep in range(reps):
            for server in alternate(servers, rep):
                s = concurrent_clones(server, client, repo, level, scratch)
                samples[server.name].append(s)
                print(
                    f"  {level:3d} clones {server.name:8s} rep {rep}: {s.seconds:6.2f} s, "
                    f"{s.failures} failed, peak RSS {s.peak_rss_kb / 1024:.0f} MB "
                    f"({s.peak_processes} processes), fds {s.fds_before}->{s.fds_after} "
                    f"(peak {s.peak_fds}), "
                    f"CPU {s.cpu_total:.2f} s"
                    + (f"\n    first error: {s.first_error}" if s.first_error else "")
                )
        out[str(level)] = {
            name: {
                "seconds": summary([x.seconds for x in xs]),
                "failures": [x.failures for x in xs],
                "peak_rss_mb": summary([x.peak_rss_kb / 1024 for x in xs]),
                "peak_processes": max(x.peak_processes for x in xs),
                "peak_fds": max(x.peak_fds for x in xs),
                "fds_before": [x.fds_before for x in xs],
                "fds_after": [x.fds_after for x in xs],
                "cpu_s": summary([x.cpu_total for x in xs]),
                "mb_per_s": summary([x.bytes / 1e6 / x.seconds for x in xs]),
                "first_error": next((x.first_error for x in xs if x.first_error), ""),
            }
            for name, xs in samples.items()
        }
    return out
