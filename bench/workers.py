"""`gitward serve --workers N` against OpenSSH: simultaneous clones of the small repository
at 1 and 2 worker processes (issue 11), the failures, the wall time, and the server's CPU
per GB sent.

The Gitward servers share one data directory (the bench's), started one after the other;
OpenSSH is the bench's sshd + git-shell. Server CPU is the whole process tree's: with
workers, the supervisor plus every live worker with the git processes each has reaped
(bench/servers.py's ``GitwardServer.cpu``). The clients run on the same machine and take
most of its two cores, so wall times are the machine's, not the server's alone: compare
the servers with one another, in the same run, and read the load beside the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import measure
from bench.servers import Client, GitwardServer, Server


def run(
    openssh: Server,
    gw_data: Path,
    client: Client,
    known_hosts: Path,
    others: list[Server],
    scratch: Path,
    *,
    repo: str,
    levels: list[int],
    reps: int,
    worker_counts: tuple[int, ...] = (1, 2),
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """``others``: the servers already running (their known-hosts lines are kept).
    ``profile_dir``: after the measurements, one more round of the largest level at each
    worker count under py-spy (every worker: ``--subprocesses``), unmeasured."""
    gitwards: list[Server] = []
    try:
        for n in worker_counts:
            server = GitwardServer(
                f"gitward-{n}w", data_dir=gw_data, env_extra={"GITWARD_WORKERS": str(n)}
            ).start()
            gitwards.append(server)
        known_hosts.write_text(
            "".join(s.known_hosts_lines() for s in [*others, *gitwards])
        )
        for s in gitwards:  # each serves before anything is measured
            proc = client.git(s, "ls-remote", s.url(repo))
            if proc.returncode != 0:
                raise RuntimeError(f"{s.name} does not serve: {proc.stderr.decode()}")
        out: dict[str, Any] = {"worker_counts": list(worker_counts), "levels": {}}
        servers = [openssh, *gitwards]
        for level in levels:
            samples: dict[str, list[measure.ConcurrencySample]] = {s.name: [] for s in servers}
            for rep in range(reps):
                for server in measure.alternate(servers, rep):
                    s = measure.concurrent_clones(server, client, repo, level, scratch)
                    samples[server.name].append(s)
                    print(
                        f"  {level:3d} clones {server.name:11s} rep {rep}: {s.seconds:6.2f} s, "
                        f"{s.failures} failed, CPU {s.cpu_total:.2f} s, "
                        f"(SSH layer {s.cpu_own:.2f}, git {s.cpu_children:.2f}), "
                        f"{s.cpu_total / max(s.bytes, 1) * 1e9:.1f} s/GB, "
                        f"peak RSS {s.peak_rss_kb / 1024:.0f} MB"
                        + (f"\n    first error: {s.first_error}" if s.first_error else ""),
                        flush=True,
                    )
            out["levels"][str(level)] = {
                name: {
                    "seconds": measure.summary([x.seconds for x in xs]),
                    "failures": [x.failures for x in xs],
                    "cpu_s": measure.summary([x.cpu_total for x in xs]),
                    "ssh_layer_cpu_s": measure.summary([x.cpu_own for x in xs]),
                    "git_cpu_s": measure.summary([x.cpu_children for x in xs]),
                    "cpu_s_per_gb": measure.summary(
                        [x.cpu_total / max(x.bytes, 1) * 1e9 for x in xs]
                    ),
                    "gb_sent": measure.summary([x.bytes / 1e9 for x in xs]),
                    "peak_rss_mb": measure.summary([x.peak_rss_kb / 1024 for x in xs]),
                    "peak_processes": max(x.peak_processes for x in xs),
                    "first_error": next((x.first_error for x in xs if x.first_error), ""),
                }
                for name, xs in samples.items()
            }
        if profile_dir is not None:
            out["profiles"] = _profiles(gitwards, client, repo, max(levels), scratch, profile_dir)
        return out
    finally:
        for s in gitwards:
            s.stop()


def _profiles(
    gitwards: list[Server], client: Client, repo: str, level: int, scratch: Path, out_dir: Path
) -> dict[str, Any]:
    from bench import profile

    out_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {}
    for server in gitwards:
        raw = out_dir / f"workers-{server.name}-{level}.raw.txt"
        raw.unlink(missing_ok=True)

        def work(server: Server = server) -> None:
            s = measure.concurrent_clones(server, client, repo, level, scratch)
            print(f"  profiled {level} clones {server.name}: {s.seconds:.2f} s", flush=True)

        spy = profile.record(server.pid, raw, work, subprocesses=True)
        if spy is None or not raw.exists():
            continue
        text, shares = profile.summarize(raw)
        top = raw.with_name(raw.name.replace(".raw.txt", ".top.txt"))
        top.write_text(text)
        found[server.name] = {"top_self": shares, "raw": str(raw.relative_to(out_dir.parent))}
        print(f"  {server.name}: top of the profile in {top}", flush=True)
    return found
