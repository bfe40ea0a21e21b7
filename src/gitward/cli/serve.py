"""`gitward serve`: open the store, start the SSH server, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable
from dataclasses import dataclass

import click

from gitward import __version__
from gitward.cli.common import handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.errors import ConfigurationError
from gitward.http.monitoring import MetricsServer
from gitward.http.server import HttpServer
from gitward.logging import configure_logging
from gitward.services import signin
from gitward.services.connector_schedule import ConnectorScheduler
from gitward.services.context import Context
from gitward.services.repositories import ssh_url
from gitward.settings import Settings
from gitward.sshd.listener import SSHListener, start_ssh_server


def _start_http(
    ctx: Context, ssh: SSHListener, *, worker: bool = False
) -> tuple[HttpServer | None, str]:
    """The HTTP API and web UI, or why they are not running. A missing CA secret
    (PostgreSQL) disables the issuer only, and says so; a port that is taken stops the
    whole server."""
    try:
        http = HttpServer(
            ctx,
            ctx.settings.http_host,
            ctx.settings.http_port,
            ssh_listening=ssh.listening,
            reuse_port=worker,
            grace=ctx.settings.shutdown_grace_seconds,
        )
    except ConfigurationError as exc:
        return None, f"not started: {exc.message}"
    http.start()
    disabled = http.issuing_disabled
    issuing = disabled or "issuing: POST /api/v1/ssh/certificates"
    return http, f"{http.url} ({issuing}, docs: /api/v1/docs)"


def web_url(ctx: Context, http_port: int) -> str:
    """Where browsers reach the web UI: ``web_url`` if set (a proxy), else the host name
    clients use with the port HTTP bound."""
    return ctx.settings.web_url or f"http://{ctx.settings.hostname}:{http_port}"


def web_lines(ctx: Context, http_port: int | None) -> str:
    if http_port is None:
        return ""
    base = web_url(ctx, http_port)
    lines = f"\n  web UI         : {base}/"
    link = signin.setup_link(ctx, base_url=base)
    if link is not None:
        # First run (no site admin can sign in yet): like Jenkins' and Gitea's setup.
        lines += (
            f"\n  first run      : open {link}\n"
            "                   to create the first site admin (works once, for 24 hours)"
        )
    return lines


def banner(
    ctx: Context,
    port: int,
    host_key_fingerprints: list[str],
    http_line: str,
    web_lines: str = "",
    workers_line: str = "",
) -> str:
    s = ctx.settings
    flags = f" --data-dir {s.data_dir}" if str(s.data_dir) != "var" else ""
    gw = f"gitward{flags}"
    fingerprints = "\n".join(f"    {fp}" for fp in host_key_fingerprints)
    url = ssh_url("git", s.hostname, port, "acme/app")
    return f"""\
Gitward {__version__} is running.
  SSH            : listening on {s.ssh_host}:{port} (hostname in URLs: {s.hostname})
  host keys      :
{fingerprints}
  HTTP API       : {http_line}{web_lines}{workers_line}
  data directory : {s.data_dir.resolve()}
  database       : {ctx.engine.url.render_as_string(hide_password=True)}

Next steps (in another terminal, with .venv/bin on your PATH):
  {gw} user create alice
  {gw} key add alice ~/.ssh/id_ed25519.pub
  {gw} org create acme && {gw} org member add acme alice --role owner
  {gw} repo create acme/app
  ssh -T -p {port} git@{s.hostname}          # "Hi alice! ..."
  git clone {url}
Press Ctrl-C to stop."""


@dataclass
class WorkerRole:
    """One of ``count`` processes started by cli/supervisor.py: it shares the ports
    (SO_REUSEPORT), runs the connector scheduler only as worker 0, tells the supervisor
    it is ready with ``ready(http_line)`` instead of printing the banner, and stops when
    ``parent_gone`` fires (the supervisor's pipe closed) as on SIGTERM."""

    index: int
    count: int
    ready: Callable[[str, int | None], None]
    parent_gone: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None]


async def run_server(ctx: Context, worker: WorkerRole | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully (see sshd/drain.py)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if worker is not None:
        worker.parent_gone(loop, stop.set)
    ssh = await start_ssh_server(
        ctx,
        ctx.settings.ssh_host,
        ctx.settings.ssh_port,
        workers=worker.count if worker else 1,
        worker=worker is not None,
    )
    http: HttpServer | None = None
    metrics_server: MetricsServer | None = None
    scheduler: ConnectorScheduler | None = None
    try:
        # After SSH: the issuing API tells clients the SSH port actually bound.
        http, http_line = _start_http(ssh.ctx, ssh, worker=worker is not None)
        first = worker is None or worker.index == 0
        # One process serves metrics on their own address (it binds without SO_REUSEPORT);
        # in multiprocess mode it reports every worker's counts.
        if ctx.settings.metrics_port is not None and first:
            metrics_server = MetricsServer(ssh.ctx)
            metrics_server.start()
            http_line += f"\n  metrics        : {metrics_server.url}"
        if ctx.settings.connector_schedule and first:
            scheduler = ConnectorScheduler(ssh.ctx)
            scheduler.start()
        http_port = http.port if http is not None else None
        if http_port is not None:
            ssh.state.web_url = web_url(ssh.ctx, http_port)
        # What starting made (modules, apps, SQLAlchemy's metadata) lives as long as the
        # process: frozen out of the collector's sight, a full collection no longer walks
        # it (it stopped every thread for ~130 ms under issuing load: the p99).
        gc.collect()
        gc.freeze()
        if worker is None:
            lines = await asyncio.to_thread(web_lines, ssh.ctx, http_port)
            click.echo(banner(ssh.ctx, ssh.port, ssh.host_key_fingerprints, http_line, lines))
        else:
            worker.ready(http_line, http_port)
        await stop.wait()
    finally:
        grace = float(ctx.settings.shutdown_grace_seconds)
        stopping = [ssh.close(grace)]
        if http is not None:
            stopping.append(asyncio.to_thread(http.stop))
        if metrics_server is not None:
            stopping.append(asyncio.to_thread(metrics_server.stop))
        if scheduler is not None:
            stopping.append(asyncio.to_thread(scheduler.stop))
        await asyncio.gather(*stopping)
    if worker is None:
        click.echo("stopped")


# Every setting is also a flag of `serve` (--max-startups, --penalty-exempt, ...); these
# have hand-written help, the rest are generated from the settings model below.
_SHARED = {"data_dir", "database_url", "hostname"}  # settings_options adds them everywhere
_SECRET = {"ca_secret"}  # never on a command line, where every local user can read it


def _setting_flags(func: Callable[..., None]) -> Callable[..., None]:
    for name in reversed(list(Settings.model_fields)):
        if name in _SHARED or name in _SECRET:
            continue
        field = Settings.model_fields[name]
        default = field.default if field.default is not None else "none"
        describe = field.description or name.replace("_", " ")
        func = click.option(
            f"--{name.replace('_', '-')}",
            name,
            default=None,
            metavar="VALUE",
            help=f"{describe} [GITWARD_{name.upper()}, default {default}].",
        )(func)
    return func


@click.command("serve")
@_setting_flags
@settings_options
@handle_errors
def serve(**flags: str | None) -> None:
    """Run Gitward on the configured data directory and database."""
    ctx = service_context(flags)  # migrations run here, once, before any worker starts
    configure_logging(ctx.settings.log_level, json=ctx.settings.log_format == "json")
    workers = ctx.settings.resolved_workers
    if workers == 1:
        asyncio.run(run_server(ctx))
        return
    from gitward.cli.supervisor import supervise  # it imports this module

    raise SystemExit(supervise(ctx, workers))
