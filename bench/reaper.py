"""Run a server as the child of a subreaper, so that its CPU time is all accounted.

    python -m bench.reaper COMMAND [ARGS...]

OpenSSH's per-connection monitor exits without waiting for the session process it forked,
so that process (and git under it) is re-parented and reaped elsewhere, and its CPU time
never reaches the listener's cutime/cstime. Marked as a child subreaper
(PR_SET_CHILD_SUBREAPER), this process inherits such orphans and reaps them itself, so its
own cutime + cstime is the whole server's CPU. It forwards SIGTERM/SIGINT to the server and
exits once every descendant is gone.
"""

from __future__ import annotations

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
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            return status
        except InterruptedError:
            continue
        if pid == child:
            status = os.waitstatus_to_exitcode(code)


if __name__ == "__main__":
    sys.exit(main())
