"""One SSH session: a git command run against the channel, or a refusal git prints.

Only ``exec`` of the three git services; a shell request gets GitHub's greeting and exit
status 1; subsystems (sftp), ptys, agent and port forwarding are refused. A refusal is one
line on stderr, ``ERROR: ...``, which git shows before "Could not read from remote
repository".
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

import asyncssh
import structlog

from gitward import metrics
from gitward.access.facts import DeployKeyCredential
from gitward.errors import GitwardError
from gitward.git import run
from gitward.services import signin, ssh_access
from gitward.services.context import Context
from gitward.sshd import relay
from gitward.sshd.drain import Operations
from gitward.sshd.server import GitwardConnection

log = structlog.get_logger("gitward.sshd")

# How long git may take to notice a vanished client (EOF on its input) and clean up its
# quarantine before it is terminated.
GIT_EXIT_GRACE = 60.0


async def _finish(process: asyncssh.SSHServerProcess[bytes], status: int) -> None:
    # drain() also waits until a redirected pipe has reached its end of file.
    with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
        await process.stdout.drain()
        await process.stderr.drain()
        process.channel.write_eof()
    process.exit(status)
    with contextlib.suppress(asyncssh.Error, OSError):
        await process.wait_closed()


async def _refuse(process: asyncssh.SSHServerProcess[bytes], message: str) -> None:
    with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
        process.stderr.write(f"ERROR: {message}\n".encode())
    await _finish(process, 1)


def _who(conn: GitwardConnection) -> str:
    assert conn.identity is not None
    credential = conn.identity.credential
    if credential is None or isinstance(credential, DeployKeyCredential):
        return conn.identity.label
    return credential.user.username


# What a session opened during a stop, or a git operation stopped by one, is told.
RESTARTING = "Gitward is restarting; try again in a moment."
STOPPED = "Gitward stopped this operation (it is restarting); try again in a moment."
INTERNAL_ERROR = "Internal server error; the administrator can find the cause in the log."


async def handle_session(ctx: Context, process: asyncssh.SSHServerProcess[bytes]) -> None:
    """The safety net around a session: anything unexpected ends it with one ``ERROR:``
    line for git and its traceback in the log (fail closed: nothing runs)."""
    try:
        await _handle_session(ctx, process)
    except Exception as exc:
        log.error(
            "ssh_session_crashed",
            peer=process.get_extra_info("peername", ("",))[0],
            command=(process.command or "")[:200],
            error=type(exc).__name__,
            exc_info=exc,
        )
        with contextlib.suppress(Exception):
            await _refuse(process, INTERNAL_ERROR)


async def _handle_session(ctx: Context, process: asyncssh.SSHServerProcess[bytes]) -> None:
    conn = process.get_extra_info("connection")
    assert isinstance(conn, GitwardConnection) and conn.identity is not None
    operations = conn.gitward_state.operations
    if operations.stopping:
        await _refuse(process, RESTARTING)
        return
    with operations.session():
        await _session(ctx, process, conn)


async def _session(
    ctx: Context, process: asyncssh.SSHServerProcess[bytes], conn: GitwardConnection
) -> None:
    assert conn.identity is not None
    identity = conn.identity
    if process.subsystem:
        await _refuse(process, "Gitward does not provide subsystems.")
        return
    if identity.refusal is not None:  # an explainable certificate refusal (expired, ...)
        await _refuse(process, identity.refusal.message)
        return
    if process.command is None:
        await _greet(ctx, process, conn)
        return
    if process.command.strip() == LOGIN_COMMAND:
        await _login_link(ctx, process, conn)
        return
    assert identity.credential is not None
    result = await asyncio.to_thread(
        ssh_access.authorize_command,
        ctx,
        credential=identity.credential,
        ssh_username=conn.ssh_username,
        command_line=process.command,
        peer=conn.peer_address,
        who=_who(conn),
        label=identity.label,
    )
    if not result.decision.allowed or result.command is None or result.repo_dir is None:
        metrics.git_operation_denied(result.command.service if result.command else "invalid")
        await _refuse(process, result.decision.message or "Repository not found.")
        return
    env = run.git_environment(process.env.get("GIT_PROTOCOL"), home=ctx.settings.data_dir)
    operations = conn.gitward_state.operations
    if operations.stopping:  # the stop began while the command was authorized
        await _refuse(process, RESTARTING)
        return
    traffic = metrics.GitTraffic(result.command.service)
    status: int | None = None
    try:
        service = await run.start_service(result.command, result.repo_dir, env)
        status = await _pipe(process, service, traffic, operations)
    finally:
        _finished(conn, result.command.repo_path, traffic, status)


def _finished(
    conn: GitwardConnection, repo: str, traffic: metrics.GitTraffic, status: int | None
) -> None:
    """One metric and one log line per git operation that ran (``status`` None: it was
    interrupted)."""
    outcome = "ok" if status == 0 else "failed"
    seconds = traffic.seconds
    metrics.git_operation_finished(traffic.service, outcome, seconds)
    log.info(
        "git_operation_finished",
        action=traffic.service,
        target=repo,
        actor=_who(conn),
        peer=conn.peer_address,
        outcome=outcome,
        exit_status=status,
        seconds=round(seconds, 3),
        bytes_sent=traffic.sent,
        bytes_received=traffic.received,
    )


async def _greet(
    ctx: Context, process: asyncssh.SSHServerProcess[bytes], conn: GitwardConnection
) -> None:
    assert conn.identity is not None
    credential = conn.identity.credential
    name = (
        await asyncio.to_thread(ssh_access.deploy_key_repository, ctx, credential.repo_id)
        if isinstance(credential, DeployKeyCredential)
        else _who(conn)
    )
    with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
        process.stderr.write(
            f"Hi {name}! You've successfully authenticated, but Gitward does not provide "
            "shell access.\n".encode()
        )
    await _finish(process, 1)


LOGIN_COMMAND = "login"


async def _login_link(
    ctx: Context, process: asyncssh.SSHServerProcess[bytes], conn: GitwardConnection
) -> None:
    """``ssh git@HOST login``: a one-time link to the web UI, valid for five minutes, for
    the user whose key or certificate just authenticated. On stderr, like the greeting."""
    assert conn.identity is not None
    credential = conn.identity.credential
    if credential is None or isinstance(credential, DeployKeyCredential):
        await _refuse(process, "Deploy keys cannot sign in to the web UI.")
        return
    base = conn.gitward_state.web_url or ctx.settings.resolved_web_url
    try:
        url = await asyncio.to_thread(
            signin.ssh_login_link,
            ctx,
            credential.user.id,
            peer=conn.peer_address,
            base_url=base,
        )
    except GitwardError as exc:
        log.info("login_link_refused", peer=conn.peer_address, cause=exc.cause)
        await _refuse(process, exc.message[:1].upper() + exc.message[1:] + ".")
        return
    with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
        process.stderr.write(
            f"Hi {credential.user.username}! Open this link to sign in to Gitward "
            f"(it works once, within 5 minutes):\n  {url}\n".encode()
        )
    await _finish(process, 0)


def _abandon(
    process: asyncssh.SSHServerProcess[bytes], service: run.RunningService, feed: asyncio.Task[None]
) -> Callable[[], None]:
    """What a stop past its grace does to this operation (sshd/drain.py): tell the client,
    then end a push's input (receive-pack fails it and removes its quarantine) or stop a
    read."""

    def abandon() -> None:
        with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
            process.stderr.write(f"ERROR: {STOPPED}\n".encode())
        if service.operation == "write":
            feed.cancel()  # client_to_git closes git's stdin
        elif service.process.returncode is None:
            service.process.terminate()

    return abandon


async def _pipe(
    process: asyncssh.SSHServerProcess[bytes],
    service: run.RunningService,
    traffic: metrics.GitTraffic,
    operations: Operations | None = None,
) -> int:
    """Relay between the channel and git until git exits and its output is delivered;
    registered with ``operations`` (a graceful stop waits for it) while it runs. git's exit
    status (negative: the signal that ended it)."""
    for fd in (service.stdin_fd, service.stdout_fd, service.stderr_fd):
        relay.prepare(fd)
    feed = asyncio.create_task(
        relay.client_to_git(process.stdin, service.stdin_fd, traffic.count_received)
    )
    output = asyncio.gather(
        relay.git_to_client(service.stdout_fd, process.stdout, traffic.count_sent),
        relay.git_to_client(service.stderr_fd, process.stderr, traffic.count_sent),
    )
    operations = operations or Operations()
    try:
        with operations.git(service.process, _abandon(process, service, feed)):
            status = await _wait_git(process, service)
        await output  # git's last words, up to its pipes' end of file
    except BaseException:
        if service.process.returncode is None:
            service.process.kill()
        raise
    finally:
        feed.cancel()
        await asyncio.gather(feed, output, return_exceptions=True)
    if service.process.pid in operations.abandoned:
        operations.abandoned.discard(service.process.pid)
        log.warning(
            "git_stopped_by_shutdown",
            pid=service.process.pid,
            operation=service.operation,
            status=status,
        )
        if status != 0:  # the client has been told why
            await _finish(process, status if status > 0 else 128)
            return status
    if status < 0:
        with contextlib.suppress(asyncssh.Error, OSError):
            process.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
            await process.wait_closed()
        return status
    await _finish(process, status)
    return status


async def _wait_git(process: asyncssh.SSHServerProcess[bytes], service: run.RunningService) -> int:
    """git's exit status. A client that goes away first has closed git's stdin: a push
    is abandoned by receive-pack itself (removing its quarantine); read-only services
    have nothing to clean up and are stopped at once."""
    closed = asyncio.ensure_future(process.channel.wait_closed())
    exited = asyncio.ensure_future(service.process.wait())
    try:
        done, _ = await asyncio.wait({closed, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited not in done:
            if service.operation == "read":
                service.process.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(exited), GIT_EXIT_GRACE)
            except TimeoutError:
                log.warning("git_slow_to_exit", pid=service.process.pid)
                service.process.terminate()
        return await exited
    finally:
        closed.cancel()
