"""Spawning git's three SSH services for one repository. The only exec of a git service.

git gets an environment built from scratch: only ``GIT_PROTOCOL`` passes from the client,
and only in the shape git itself sends (``version=2``), so nothing like ``GIT_CONFIG_*``,
``GIT_EXEC_PATH`` or ``LD_PRELOAD`` can reach it. System and global git config are off; a
repository's own config is written by Gitward alone.

The child's stdio are raw OS pipes (NOTES-asyncssh: asyncio subprocess streams break on
large transfers when the SSH channel pauses and resumes); the transport wires the parent's
ends to the channel.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitward.git.commands import GitCommand, Operation

_PROTOCOL = re.compile(r"^version=[0-9]+(?::[A-Za-z0-9=_.-]+)*$")
_SERVICE_ARGS = {
    "git-upload-pack": ["upload-pack", "--strict"],
    "git-receive-pack": ["receive-pack"],
    "git-upload-archive": ["upload-archive"],
}


def git_environment(client_protocol: str | None, *, home: Path) -> dict[str, str]:
    """The whole environment git runs with; ``client_protocol`` is the client's GIT_PROTOCOL."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }
    if client_protocol and len(client_protocol) <= 200 and _PROTOCOL.match(client_protocol):
        env["GIT_PROTOCOL"] = client_protocol
    return env


def service_argv(command: GitCommand, repo_dir: Path) -> list[str]:
    # One argument, the resolved path, after "--"-free fixed options: never a shell.
    return ["git", *_SERVICE_ARGS[command.service], str(repo_dir)]


@dataclass
class RunningService:
    """A git service and the parent's ends of its pipes, which the transport owns next
    (each is closed by the one task that copies through it)."""

    process: asyncio.subprocess.Process
    stdin_fd: int  # write end: the client's data goes here
    stdout_fd: int  # read end
    stderr_fd: int  # read end
    operation: Operation = "read"  # "write": a vanished client's push is git's to abandon


async def start_service(command: GitCommand, repo_dir: Path, env: dict[str, str]) -> RunningService:
    child_in, parent_in = os.pipe()
    parent_out, child_out = os.pipe()
    parent_err, child_err = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *service_argv(command, repo_dir),
            stdin=child_in,
            stdout=child_out,
            stderr=child_err,
            env=env,
            cwd=repo_dir,
            close_fds=True,
            start_new_session=True,  # a signal to the server's group does not reach git
        )
    except BaseException:
        for fd in (parent_in, parent_out, parent_err):
            os.close(fd)
        raise
    finally:
        for fd in (child_in, child_out, child_err):
            os.close(fd)
    return RunningService(process, parent_in, parent_out, parent_err, command.operation)
