"""Graceful stop: the git operations running now, so that a stop can wait for them.

``serve`` on SIGTERM stops accepting connections, drops those that have not authenticated,
and waits up to ``shutdown_grace_seconds`` for every session to finish. Sessions opened on
an existing connection meanwhile are refused (``ERROR: ...``). When the bound runs out,
each operation still running is *abandoned*: its client is told in one ``ERROR:`` line,
and a push gets the end of its input, exactly as when its client vanishes, so that
receive-pack fails the push itself: its index-pack or unpack-objects stops at the early
EOF, no ref is updated, and receive-pack removes its quarantine
(``objects/tmp_objdir-incoming-*``) on the way out. (A signal would not do: index-pack's
``tmp_pack_*`` is no temporary file git removes on a signal, and SIGTERM left the
quarantine behind.) A read (clone, fetch) is simply stopped. Only a git that has not
exited ``GIT_TERM_WAIT`` seconds later gets SIGTERM, then SIGKILL; what that could leave
is removed by the sweep of stale git state at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator

import structlog

log = structlog.get_logger("gitward.sshd")

# How long an abandoned git gets to fail its push and remove its quarantine before it is
# signalled (SIGTERM, then SIGKILL after as long again).
GIT_TERM_WAIT = 10.0


class Operations:
    """The sessions of one listener in flight, and the git processes they run."""

    def __init__(self) -> None:
        self.stopping = False
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._git: dict[asyncio.subprocess.Process, Callable[[], None]] = {}
        self.abandoned: set[int] = set()  # pids stopped by a drain, not by their client

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    @contextlib.contextmanager
    def git(
        self, process: asyncio.subprocess.Process, abandon: Callable[[], None]
    ) -> Iterator[None]:
        """While git runs; ``abandon`` tells the client and ends git's input."""
        self._git[process] = abandon
        try:
            yield
        finally:
            self._git.pop(process, None)

    async def wait_idle(self, timeout: float) -> bool:
        """True once no session runs; False if ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def abandon_git(self) -> None:
        for process, abandon in list(self._git.items()):
            if process.returncode is None:
                self.abandoned.add(process.pid)
                abandon()

    def signal_git(self, sig: signal.Signals) -> None:
        for process in list(self._git):
            if process.returncode is not None:
                continue
            self.abandoned.add(process.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                # git runs in its own session (start_new_session): its group is its pid,
                # and holds index-pack / pack-objects too.
                os.killpg(process.pid, sig)

    async def drain(self, grace: float) -> None:
        """Wait for the sessions in flight, up to ``grace`` seconds, then stop their git."""
        self.stopping = True
        if self.count:
            log.info("shutdown_draining", operations=self.count, grace_seconds=grace)
        if await self.wait_idle(grace):
            return
        log.warning("shutdown_grace_expired", operations=self.count, git=len(self._git))
        self.abandon_git()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if await self.wait_idle(GIT_TERM_WAIT):
                return
            log.warning("git_slow_to_stop", git=len(self._git), signal=sig.name)
            self.signal_git(sig)
        await self.wait_idle(GIT_TERM_WAIT)
