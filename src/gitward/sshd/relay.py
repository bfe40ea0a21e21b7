"""The bytes between one SSH channel and one git process, in both directions.

Gitward owns this copy loop instead of asyncssh's ``redirect()``: with a pipe as target,
``redirect`` hands git's stdin to asyncio's ``_UnixWritePipeTransport``, whose
``_write_ready`` calls the protocol's ``resume_writing`` and then closes the pipe if
``write_eof`` arrived meanwhile. asyncssh's ``resume_writing`` synchronously flushes the
data and the EOF it held back while paused, so the pipe was closed with part of a push
still in the transport's buffer (``unpacker error``, ``early EOF``), and the descriptor
closed while the selector still watched it (``FileNotFoundError`` in ``selectors.modify``
when the number was reused, ``'NoneType' object has no attribute 'connection_lost'``).

Here each of git's three pipe ends has exactly one owner, the task that copies through it,
which closes it once, after removing its own watch from the event loop:

- ``client_to_git``: channel data to git's stdin; pauses reading the channel (so its SSH
  window stays shut) while git's pipe is full; the client's EOF, or a vanished client,
  closes git's stdin, which is how receive-pack learns to abandon a push.
- ``git_to_client`` (stdout, stderr): git's output to the channel, waiting for the SSH
  window when the client is slow. Once the channel is gone it keeps reading and drops the
  bytes, so git never dies of SIGPIPE halfway through removing its quarantine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable

import asyncssh

# Git's pipes are widened from Linux's 64 KiB so that one wake-up moves more bytes.
PIPE_SIZE = 1 << 20
CHUNK = 1 << 18
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def prepare(fd: int) -> None:
    """Non-blocking, with a wider pipe buffer where the kernel allows it."""
    os.set_blocking(fd, False)
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)


async def _until(
    fd: int,
    watch: Callable[[int, Callable[[], None]], None],
    unwatch: Callable[[int], object],
) -> None:
    """Wait until ``fd`` is ready, with the watch removed again before returning."""
    ready = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    watch(fd, wake)
    try:
        await ready
    finally:
        unwatch(fd)


async def read_fd(fd: int, size: int = CHUNK) -> bytes:
    """Read what ``fd`` has (b"" at end of file), waiting while it has nothing."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            await _until(fd, loop.add_reader, loop.remove_reader)


async def write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data``, waiting while the pipe is full. Raises BrokenPipeError when
    the reader has gone."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _until(fd, loop.add_writer, loop.remove_writer)


def _uncounted(size: int) -> None:
    pass


async def client_to_git(
    stdin: asyncssh.SSHReader[bytes], fd: int, counted: Callable[[int], None] = _uncounted
) -> None:
    """Copy the client's data into git's stdin until the client's EOF; owns ``fd``.
    ``counted`` is told the size of each piece git took."""
    try:
        while True:
            try:
                data = await stdin.read(CHUNK)
            except (asyncssh.Error, OSError):
                return  # the channel is gone: EOF for git
            if not data:
                return
            try:
                await write_fd(fd, data)
            except OSError:
                return  # git closed its stdin (it has finished or failed); drop the rest
            counted(len(data))
    finally:
        os.close(fd)


async def git_to_client(
    fd: int, out: asyncssh.SSHWriter[bytes], counted: Callable[[int], None] = _uncounted
) -> None:
    """Copy git's output to the channel until git closes it; owns ``fd``. ``counted`` is
    told the size of each piece handed to the channel."""
    connected = True
    try:
        while data := await read_fd(fd):
            if not connected:
                continue
            try:
                out.write(data)
                counted(len(data))
                await out.drain()
            except (asyncssh.Error, OSError):
                connected = False  # keep reading: git must not die of SIGPIPE
    finally:
        os.close(fd)
