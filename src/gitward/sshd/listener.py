"""Starting the SSH listener."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import socket
import time
from dataclasses import dataclass

import asyncssh
import structlog

from gitward import metrics
from gitward.errors import ConfigurationError
from gitward.git.repos import sweep_stale
from gitward.services.context import Context
from gitward.sshd.host_keys import fingerprints, load_or_create_host_keys
from gitward.sshd.limits import PenaltyBox, SourceStartups, StartupLimit, parse_networks
from gitward.sshd.proxy import ProxyGate
from gitward.sshd.server import GitwardConnection, GitwardServer, ServerState
from gitward.sshd.session import handle_session

log = structlog.get_logger("gitward.sshd")

# Connections the kernel may hold before they are accepted; a burst of clones from a CI
# farm arrives at once (Linux caps it at net.core.somaxconn, 4096 by default).
LISTEN_BACKLOG = 1024


@dataclass
class SSHListener:
    server: asyncio.Server
    state: ServerState
    host_key_fingerprints: list[str]
    ctx: Context  # with the port actually bound
    reporter: asyncio.Task[None] | None = None  # the gauges of gitward/metrics.py

    def listening(self) -> bool:
        """Accepting connections (for /readyz); False once closing."""
        return self.server.is_serving()

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self, grace: float = 0.0) -> None:
        """Stop accepting, let the sessions in flight finish for up to ``grace`` seconds
        (see sshd/drain.py), then close every connection."""
        if self.reporter is not None:
            self.reporter.cancel()
        self.server.close()
        for conn in list(self.state.connections):
            if conn.identity is None:  # still authenticating: it would start new work
                conn.abort()
        await self.state.operations.drain(grace)
        for conn in list(self.state.connections):
            conn.abort()
        await self.server.wait_closed()


def _reason(exc: OSError) -> str:
    # asyncio's own message repeats the address; the plain errno text reads better.
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # a worker of several (cli/supervisor.py reserved the port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen for SSH on {host}:{port}: {_reason(exc)}"
            " (is another server running? choose another port with --ssh-port)",
            cause=str(exc),
        ) from exc
    return sock


async def start_ssh_server(
    ctx: Context, host: str, port: int, *, workers: int = 1, worker: bool = False
) -> SSHListener:
    """Listen on ``host:port`` (port 0: any free one). The listener's ``ctx`` carries the
    port actually bound, so clone URLs built from it are right.

    ``worker``: one of ``workers`` processes sharing the port (``SO_REUSEPORT``); the
    supervisor has swept stale git state once, and the connection limits are divided."""
    sock = _bind(host, port, reuse_port=worker)
    bound = int(sock.getsockname()[1])
    if bound != ctx.settings.ssh_port:
        ctx = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"ssh_port": bound}))
    try:
        return await _serve_on(ctx, sock, workers=workers, sweep_first=not worker)
    except BaseException:
        sock.close()
        raise


def sweep_git_state(ctx: Context) -> None:
    """Remove git locks and quarantines left by a crash, older than stale_lock_seconds."""
    settings = ctx.settings
    for path in sweep_stale(settings.repos_dir, settings.stale_lock_seconds, time.time()):
        log.warning("stale_git_state_removed", path=str(path))


async def _serve_on(
    ctx: Context, sock: socket.socket, *, workers: int = 1, sweep_first: bool = True
) -> SSHListener:
    settings = ctx.settings
    if sweep_first:
        sweep_git_state(ctx)
    host_keys = load_or_create_host_keys(settings.data_dir)
    trusted = parse_networks(settings.proxy_protocol_trusted, "proxy_protocol_trusted")
    # A trusted balancer is judged only for its own connections (health checks), never for
    # the clients it relays: penalising it would lock every client out.
    exempt = parse_networks(settings.penalty_exempt) + trusted
    state = ServerState(
        ctx=ctx,
        startup_limit=StartupLimit.parse(settings.max_startups).per_worker(workers),
        source_startups=SourceStartups(settings.per_source_max_startups, exempt).per_worker(
            workers
        ),
        penalties=PenaltyBox(exempt=exempt).per_worker(workers),
        max_auth_tries=settings.max_auth_tries,
    )
    options = await asyncssh.SSHServerConnectionOptions.construct(
        server_factory=GitwardServer,
        server_host_keys=host_keys,
        process_factory=functools.partial(handle_session, ctx),
        encoding=None,
        login_timeout=settings.login_grace_seconds,
        allow_pty=False,
        agent_forwarding=False,
        x11_forwarding=False,
        public_key_auth=True,
        password_auth=False,
        kbdint_auth=False,
        gss_host=None,
        host_based_auth=False,
    )
    loop = asyncio.get_running_loop()

    def connection(client: tuple[str, int] | None = None) -> GitwardConnection:
        return GitwardConnection(state, loop, options, proxied_client=client)

    def gate() -> asyncio.Protocol:
        return ProxyGate(connection, trusted, settings.proxy_protocol_timeout, loop)

    server = await loop.create_server(
        gate if trusted else connection, sock=sock, backlog=LISTEN_BACKLOG
    )
    if trusted:
        log.info("proxy_protocol", trusted=settings.proxy_protocol_trusted)
    listener = SSHListener(server, state, fingerprints(host_keys), ctx)
    listener.reporter = asyncio.create_task(_report_gauges(state))
    return listener


GAUGE_INTERVAL = 1.0


async def _report_gauges(state: ServerState) -> None:
    """This listener's unauthenticated connections and penalised sources, once a second
    (a scrape may be answered by another process: the values are pushed, not pulled)."""
    while True:
        metrics.ssh_gauges(
            unauthenticated=state.unauthenticated,
            penalized=state.penalties.in_force(time.monotonic()),
        )
        await asyncio.sleep(GAUGE_INTERVAL)
