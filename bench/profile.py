"""Profiles of the Gitward server with py-spy (sampling, attached to the running process):
one for sequential connections (ls-remote), one for a big clone. Each writes the raw
collapsed stacks (bench/profiles/*.raw.txt, loadable by flamegraph tools and speedscope)
and a summary of the hottest functions, self and inclusive (bench/profiles/*.top.txt)."""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.measure import ls_remote_rate, one_clone
from bench.servers import Client, GitwardServer

PY_SPY = Path(sys.executable).parent / "py-spy"


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line number.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarize(raw: Path, top: int = 30) -> tuple[str, dict[str, float]]:
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith("process ")
                  and not f.startswith("thread ")]  # fmt: skip
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            incl_counts[name] += count
    lines = [f"{total} samples (busy threads only)", "", "self time:"]
    lines += [f"  {100 * c / total:5.1f}%  {n}" for n, c in self_counts.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * c / total:5.1f}%  {n}" for n, c in incl_counts.most_common(top)]
    shares = {n: round(100 * c / total, 1) for n, c in self_counts.most_common(top)}
    return "\n".join(lines) + "\n", shares


def record(
    pid: int, out: Path, work: Callable[[], None], *, subprocesses: bool = False
) -> subprocess.Popen[bytes] | None:
    if not PY_SPY.exists() and not shutil.which("py-spy"):
        print("  py-spy is not installed: no profile")
        return None
    spy = subprocess.Popen(
        [str(PY_SPY if PY_SPY.exists() else "py-spy"), "record", "--pid", str(pid),
         "--rate", "200", "--format", "raw", "--nonblocking", "-o", str(out),
         *(["--subprocesses"] if subprocesses else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # let py-spy attach
    try:
        work()
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
    return spy


def profile_gitward(
    server: GitwardServer, client: Client, out_dir: Path, *, quick: bool
) -> dict[str, object]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {}
    jobs: dict[str, Callable[[], None]] = {
        "connections": lambda: print(
            "  profiled ls-remote:",
            ls_remote_rate(server, client, "acme/small", 10 if quick else 40),
        ),
        "clone": lambda: print(
            "  profiled clone:",
            one_clone(server, client, "acme/big", out_dir.parent / "profile-clone"),
        ),
    }
    for name, work in jobs.items():
        raw = out_dir / f"{name}.raw.txt"
        raw.unlink(missing_ok=True)
        spy = record(server.pid, raw, work)
        if spy is None or not raw.exists():
            err = spy.stderr.read().decode() if spy and spy.stderr else ""
            print(f"  no profile for {name}: {err[-300:]}")
            continue
        text, shares = summarize(raw)
        (out_dir / f"{name}.top.txt").write_text(text)
        results[name] = {"top_self": shares, "raw": str(raw.relative_to(out_dir.parent))}
        print(f"  {name}: top of the profile in {out_dir / (name + '.top.txt')}")
    return results
