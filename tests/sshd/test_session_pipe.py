"""The channel carries every byte a service writes, even when its stderr closes first.

Regression: asyncssh sent the channel's EOF as soon as either pipe ended; git's stderr
often ends while the last of a pack still sits in the stdout pipe, which was then dropped
and the clone failed with "early EOF" (found by the clone benchmark).
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncssh

from gitward.git.run import RunningService
from gitward.sshd.session import _pipe

PAYLOAD = 8 * 1024 * 1024
# Closes stderr at once, then writes a large stdout in chunks, slowly enough that the
# pipe is still full when stderr's EOF arrives.
CHILD = (
    "import os, sys, time\n"
    "os.close(2)\n"
    "chunk = b'x' * 65536\n"
    f"for i in range({PAYLOAD} // 65536):\n"
    "    sys.stdout.buffer.write(chunk)\n"
    "    if i % 16 == 0: sys.stdout.buffer.flush(); time.sleep(0.001)\n"
    "sys.stdout.buffer.flush()\n"
    "sys.exit(3)\n"
)


async def _start_child() -> RunningService:
    child_in, parent_in = os.pipe()
    parent_out, child_out = os.pipe()
    parent_err, child_err = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, stdin=child_in, stdout=child_out, stderr=child_err
    )
    for fd in (child_in, child_out, child_err):
        os.close(fd)
    return RunningService(process, parent_in, parent_out, parent_err)


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


async def _scenario() -> tuple[int, int | None]:
    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await _pipe(process, await _start_child())

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
            result = await conn.run("anything", encoding=None, check=False)
            assert isinstance(result.stdout, bytes)
            return len(result.stdout), result.exit_status
    finally:
        server.close()
        await server.wait_closed()


def test_ok_every_stdout_byte_arrives_after_stderr_closed_early() -> None:
    received, status = asyncio.run(_scenario())
    assert received == PAYLOAD
    assert status == 3
