"""Graceful stop: the git operations running now, so that a stop can wait for them.

``serve`` on SIGTERM stops accepting connections, drops those that have not authenticated,
and waits up to ``shutdown_grace_seconds`` for every session to finish. Sessions opened on
an existing connection meanwhile are refused (``ERROR: ...``). When the bound runs out the
git processes still running get SIGTERM, to their whole process group: receive-pack and
its index-pack remove their quarantine (``objects/tmp_objdir-incoming-*``) and lock files
on that signal, so a push that did not finish leaves its refs as they were and nothing on
disk; git's transactions make the ref update itself all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import structlog

log = structlog.get_logger("gitward.sshd")

# How long git gets, after SIGTERM at the end of the grace period, to remove its
# quarantine before its process group is killed outright.
GIT_TERM_WAIT = 10.0


class Operations:
    """The sessions of one listener in flight, and the git processes they run."""

    def __init__(self) -> None:
        self.stopping = False
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._git: set[asyncio.subprocess.Process] = set()
        self.terminated: set[int] = set()  # pids stopped by a drain, not by their client

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
    def git(self, process: asyncio.subprocess.Process) -> Iterator[None]:
        self._git.add(process)
        try:
            yield
        finally:
            self._git.discard(process)

    async def wait_idle(self, timeout: float) -> bool:
        """True once no session runs; False if ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def signal_git(self, sig: signal.Signals) -> None:
        for process in list(self._git):
            if process.returncode is not None:
                continue
            self.terminated.add(process.pid)
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
        self.signal_git(signal.SIGTERM)
        if await self.wait_idle(GIT_TERM_WAIT):
            return
        self.signal_git(signal.SIGKILL)
        await self.wait_idle(GIT_TERM_WAIT)
