"""Process accounting from /proc: CPU (own + waited-for children), memory, descriptors.

A server's CPU is ``utime + stime + cutime + cstime`` of its listener process: the ``c``
fields hold the times of every descendant that has exited and been waited for (sshd's
per-connection processes and git under both servers), so a delta taken once every
connection of a measurement has been reaped covers the whole server.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    own: float  # seconds: utime + stime of the process itself
    children: float  # seconds: cutime + cstime (reaped descendants)

    @property
    def total(self) -> float:
        return self.own + self.children

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.own + other.own, self.children + other.children)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.own - other.own, self.children - other.children)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    # comm may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu(pid: int) -> Cpu:
    f = _stat_fields(pid)
    utime, stime, cutime, cstime = (int(x) for x in f[11:15])
    return Cpu((utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK)


def parent_of(pid: int) -> int:
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return 0


def parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parents[int(name)] = int(_stat_fields(int(name))[1])
        except (OSError, ValueError, IndexError):
            continue
    return parents


def tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    parents = parent_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def hwm_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM")


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def tree_fds(root: int, skip_root: bool = False) -> int:
    return sum(fd_count(p) for p in tree(root)[1 if skip_root else 0 :])


def wait_reaped(root: int, timeout: float = 10.0, keep: int = 0) -> int:
    """Wait until ``root`` has no descendants left but ``keep`` (every connection reaped);
    return how many are left when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        left = len(tree(root)) - 1 - keep
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


class TreeSampler:
    """Samples the summed RSS (and process count) of a process tree in a thread; keeps the
    peak. Used for servers made of many processes (sshd forks per connection, git per
    request), and for Gitward alike."""

    def __init__(self, root: int, interval: float = 0.1, skip_root: bool = False) -> None:
        self.root, self.interval, self.skip = root, interval, 1 if skip_root else 0
        self.peak_rss_kb = 0
        self.peak_processes = 0
        self.peak_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.root)[self.skip :]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss_kb(p) for p in pids))
            self.peak_processes = max(self.peak_processes, len(pids))
            self.peak_fds = max(self.peak_fds, sum(fd_count(p) for p in pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
