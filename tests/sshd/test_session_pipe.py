"""The relay between the SSH channel and git carries every byte, both ways, under flow
control, and leaves the event loop clean.

Regressions:
- asyncssh sent the channel's EOF as soon as either pipe ended; git's stderr often ends
  while the last of a pack still sits in the stdout pipe, which was then dropped and the
  clone failed with "early EOF" (found by the clone benchmark).
- Pushes: with asyncssh's ``redirect`` into git's stdin, a client that sent its data and
  EOF while git's pipe was full had the pipe closed under part of its data (git saw a
  truncated pack: "unpacker error"), and the event loop logged ``FileNotFoundError`` from
  ``selectors.modify`` and ``'NoneType' object has no attribute 'connection_lost'``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh

from gitward.git.run import RunningService
from gitward.metrics import GitTraffic
from gitward.sshd.session import _pipe

PAYLOAD = 8 * 1024 * 1024

# Closes stderr at once, then writes a large stdout in chunks, slowly enough that the
# pipe is still full when stderr's EOF arrives.
WRITER = (
    "import os, sys, time\n"
    "os.close(2)\n"
    "chunk = b'x' * 65536\n"
    f"for i in range({PAYLOAD} // 65536):\n"
    "    sys.stdout.buffer.write(chunk)\n"
    "    if i % 16 == 0: sys.stdout.buffer.flush(); time.sleep(0.001)\n"
    "sys.stdout.buffer.flush()\n"
    "sys.exit(3)\n"
)

# Reads its stdin slowly (so the pipe stays full and the channel pauses), then prints
# how many bytes it got and their SHA-256: what receive-pack's unpacker would have seen.
READER = (
    "import hashlib, os, sys, time\n"
    "h, n = hashlib.sha256(), 0\n"
    "while block := os.read(0, 65536):\n"
    "    h.update(block); n += len(block)\n"
    "    time.sleep(0.0005)\n"
    "print(n, h.hexdigest(), end='', flush=True)\n"
)

# Stands for a read-only service whose client has gone: never exits on its own.
SLEEPER = "import time\ntime.sleep(600)\n"


async def _start_child(code: str, operation: str = "read") -> RunningService:
    child_in, parent_in = os.pipe()
    parent_out, child_out = os.pipe()
    parent_err, child_err = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=child_in, stdout=child_out, stderr=child_err
    )
    for fd in (child_in, child_out, child_err):
        os.close(fd)
    return RunningService(process, parent_in, parent_out, parent_err, operation)  # type: ignore[arg-type]


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


Scenario = Callable[[asyncssh.SSHClientConnection], Awaitable[Any]]

# The bytes each relayed session counted (gitward_git_*_bytes_total), newest last.
TRAFFIC: list[GitTraffic] = []


async def _with_server(
    code: str, scenario: Scenario, operation: str = "read"
) -> tuple[Any, list[dict[str, Any]], list[RunningService]]:
    """Run ``scenario`` against a server relaying to ``code``; return its result, what
    the event loop's exception handler saw, and the services started."""
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, c: loop_errors.append(c))
    services: list[RunningService] = []

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        services.append(await _start_child(code, operation))
        TRAFFIC.append(GitTraffic("git-upload-pack"))
        assert await _pipe(process, services[-1], TRAFFIC[-1]) == services[-1].process.returncode

    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        server_factory=_NoAuth,
        process_factory=handle,
        encoding=None,
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect(
            "127.0.0.1", port, username="u", known_hosts=None, config=None
        ) as conn:
            result = await scenario(conn)
        for service in services:  # the server side finishes on its own
            await asyncio.wait_for(service.process.wait(), 30)
        await asyncio.sleep(0.1)  # let any late loop callback run and be seen
        return result, loop_errors, services
    finally:
        server.close()
        await server.wait_closed()


def test_ok_every_stdout_byte_arrives_after_stderr_closed_early() -> None:
    async def clone(conn: asyncssh.SSHClientConnection) -> tuple[int, int | None]:
        result = await conn.run("anything", encoding=None, check=False)
        assert isinstance(result.stdout, bytes)
        return len(result.stdout), result.exit_status

    (received, status), loop_errors, _ = asyncio.run(_with_server(WRITER, clone))
    assert received == PAYLOAD
    assert status == 3
    assert (TRAFFIC[-1].sent, TRAFFIC[-1].received) == (PAYLOAD, 0)
    assert loop_errors == []


def test_ok_every_stdin_byte_reaches_a_slow_reader_before_eof() -> None:
    """Fails on the redirect()-based relay: 1 round in 5 arrived whole."""
    data = os.urandom(PAYLOAD)
    want = f"{len(data)} {hashlib.sha256(data).hexdigest()}"

    async def pushes(conn: asyncssh.SSHClientConnection) -> list[str]:
        seen = []
        for _ in range(4):
            result = await conn.run("anything", input=data, encoding=None, check=False)
            assert isinstance(result.stdout, bytes)
            seen.append(result.stdout.decode())
        return seen

    seen, loop_errors, _ = asyncio.run(_with_server(READER, pushes))
    assert seen == [want] * 4
    assert [t.received for t in TRAFFIC[-4:]] == [PAYLOAD] * 4
    assert [t.sent for t in TRAFFIC[-4:]] == [len(want)] * 4
    assert loop_errors == []


def test_ok_vanished_client_closes_stdin_of_a_writing_service() -> None:
    """A push whose client disappears: git sees EOF on stdin and finishes by itself
    (receive-pack then removes its quarantine), after the bytes sent so far."""
    data = os.urandom(3 * 1024 * 1024)

    async def abandon(conn: asyncssh.SSHClientConnection) -> None:
        process = await conn.create_process("anything", encoding=None)
        process.stdin.write(data)
        await process.stdin.drain()
        conn.abort()

    _, loop_errors, services = asyncio.run(_with_server(READER, abandon, "write"))
    assert [s.process.returncode for s in services] == [0]  # exited on its own, at EOF
    assert loop_errors == []


def test_ok_vanished_client_stops_a_read_only_service_at_once() -> None:
    async def abandon(conn: asyncssh.SSHClientConnection) -> float:
        await conn.create_process("anything", encoding=None)
        await asyncio.sleep(0.3)
        conn.abort()
        return time.monotonic()

    aborted, loop_errors, services = asyncio.run(_with_server(SLEEPER, abandon))
    assert services[0].process.returncode is not None
    assert services[0].process.returncode < 0  # terminated, not waited for 600 s
    assert time.monotonic() - aborted < 10
    assert loop_errors == []
