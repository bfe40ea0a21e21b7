"""Run a server as the child of a subreaper, so that its CPU time is all accounted.

    python -m bench.reaper COMMAND [ARGS...]

OpenSSH's per-connection monitor exits without waiting for the session process it forked,
so that process (and git under it) is re-parented and reaped elsewhere, and its CPU time
never reaches the listener's cutime/cstime. Marked as a child subreaper
(PR_SET_CHILD_SUBREAPER), this process inherits such orphans and reaps them itself, so its
own cutime + cstime is the whole server's CPU. It forwards SIGTERM/SIGINT to the server and
exits once every descendant is gone.

With GWBENCH_REAPER_TALLY=FILE it also keeps, in FILE, the CPU clock ticks of the orphans it
reaped, split as "OWN CHILDREN": OpenSSH's session process (SSH work) and the git it ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("reaper: prctl(PR_SET_CHILD_SUBREAPER) failed", file=sys.stderr)
        return 1
    child = os.fork()
    if child == 0:
        os.execv(sys.argv[1], sys.argv[1:])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    tally_path = os.environ.get("GWBENCH_REAPER_TALLY")
    own = children = 0
    status = 0
    while True:
        try:
            # WNOWAIT: learn which child exited but leave it a zombie, whose /proc/PID/stat
            # still tells its own CPU time from that of the children it reaped (git).
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            return status
        if info is None:
            continue
        pid = info.si_pid
        if pid != child and tally_path:
            times = _times(pid)
            own += times[0] + times[1]
            children += times[2] + times[3]
            tmp = f"{tally_path}.tmp"
            with open(tmp, "w") as handle:
                handle.write(f"{own} {children}\n")
            os.replace(tmp, tally_path)
        _, code = os.waitpid(pid, 0)
        if pid == child:
            status = os.waitstatus_to_exitcode(code)


def _times(pid: int) -> tuple[int, int, int, int]:
    """utime, stime, cutime, cstime (clock ticks) of a process, zombies included."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return (0, 0, 0, 0)
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]))


if __name__ == "__main__":
    sys.exit(main())
