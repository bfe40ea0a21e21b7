"""`gitward serve`: open the store, start the SSH server, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable

import click

from gitward import __version__
from gitward.cli.common import handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.errors import ConfigurationError
from gitward.http.server import HttpServer
from gitward.logging import configure_logging
from gitward.services import signin
from gitward.services.connector_schedule import ConnectorScheduler
from gitward.services.context import Context
from gitward.services.repositories import ssh_url
from gitward.settings import Settings
from gitward.sshd.listener import SSHListener, start_ssh_server


def _start_http(ctx: Context) -> tuple[HttpServer | None, str]:
    """The HTTP API and web UI, or why they are not running. A missing CA secret
    (PostgreSQL) disables the issuer only, and says so; a port that is taken stops the
    whole server."""
    try:
        http = HttpServer(ctx, ctx.settings.http_host, ctx.settings.http_port)
    except ConfigurationError as exc:
        return None, f"not started: {exc.message}"
    http.start()
    disabled = http.issuing_disabled
    issuing = disabled or "issuing: POST /api/v1/ssh/certificates"
    return http, f"{http.url} ({issuing}, docs: /api/v1/docs)"


def web_url(ctx: Context, http: HttpServer) -> str:
    """Where browsers reach the web UI: ``web_url`` if set (a proxy), else the host name
    clients use with the port HTTP bound."""
    return ctx.settings.web_url or f"http://{ctx.settings.hostname}:{http.port}"


def _web_lines(ctx: Context, http: HttpServer | None) -> str:
    if http is None:
        return ""
    base = web_url(ctx, http)
    lines = f"\n  web UI         : {base}/"
    link = signin.setup_link(ctx, base_url=base)
    if link is not None:
        # First run (no site admin can sign in yet): like Jenkins' and Gitea's setup.
        lines += (
            f"\n  first run      : open {link}\n"
            "                   to create the first site admin (works once, for 24 hours)"
        )
    return lines


def _banner(ctx: Context, ssh: SSHListener, http_line: str, web_lines: str = "") -> str:
    s = ctx.settings
    flags = f" --data-dir {s.data_dir}" if str(s.data_dir) != "var" else ""
    gw = f"gitward{flags}"
    fingerprints = "\n".join(f"    {fp}" for fp in ssh.host_key_fingerprints)
    url = ssh_url("git", s.hostname, ssh.port, "acme/app")
    return f"""\
Gitward {__version__} is running.
  SSH            : listening on {s.ssh_host}:{ssh.port} (hostname in URLs: {s.hostname})
  host keys      :
{fingerprints}
  HTTP API       : {http_line}{web_lines}
  data directory : {s.data_dir.resolve()}
  database       : {ctx.engine.url.render_as_string(hide_password=True)}

Next steps (in another terminal, with .venv/bin on your PATH):
  {gw} user create alice
  {gw} key add alice ~/.ssh/id_ed25519.pub
  {gw} org create acme && {gw} org member add acme alice --role owner
  {gw} repo create acme/app
  ssh -T -p {ssh.port} git@{s.hostname}          # "Hi alice! ..."
  git clone {url}
Press Ctrl-C to stop."""


async def _run(ctx: Context) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ssh = await start_ssh_server(ctx, ctx.settings.ssh_host, ctx.settings.ssh_port)
    http: HttpServer | None = None
    scheduler: ConnectorScheduler | None = None
    try:
        # After SSH: the issuing API tells clients the SSH port actually bound.
        http, http_line = _start_http(ssh.ctx)
        if ctx.settings.connector_schedule:
            scheduler = ConnectorScheduler(ssh.ctx)
            scheduler.start()
        if http is not None:
            ssh.state.web_url = web_url(ssh.ctx, http)
        web_lines = await asyncio.to_thread(_web_lines, ssh.ctx, http)
        # What starting made (modules, apps, SQLAlchemy's metadata) lives as long as the
        # process: frozen out of the collector's sight, a full collection no longer walks
        # it (it stopped every thread for ~130 ms under issuing load: the p99).
        gc.collect()
        gc.freeze()
        click.echo(_banner(ssh.ctx, ssh, http_line, web_lines))
        await stop.wait()
    finally:
        if scheduler is not None:
            await asyncio.to_thread(scheduler.stop)
        await ssh.close()
        if http is not None:
            await asyncio.to_thread(http.stop)
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
    ctx = service_context(flags)
    configure_logging(ctx.settings.log_level)
    asyncio.run(_run(ctx))
