"""`gitward serve`: open the store, start the SSH server, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import click

from gitward import __version__
from gitward.cli.common import handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.logging import configure_logging
from gitward.services.context import Context
from gitward.services.repositories import ssh_url
from gitward.sshd.listener import SSHListener, start_ssh_server


def _banner(ctx: Context, ssh: SSHListener) -> str:
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
    click.echo(_banner(ctx, ssh))
    try:
        await stop.wait()
    finally:
        await ssh.close()
    click.echo("stopped")


@click.command("serve")
@click.option(
    "--ssh-host", help="Address to listen on for SSH [GITWARD_SSH_HOST, default 127.0.0.1]."
)
@click.option(
    "--ssh-port", type=int, help="SSH port, 0 for any free one [GITWARD_SSH_PORT, default 2222]."
)
@click.option("--http-port", type=int, help="HTTP port [GITWARD_HTTP_PORT, default 8080].")
@settings_options
@handle_errors
def serve(ssh_host: str | None, ssh_port: int | None, http_port: int | None) -> None:
    """Run Gitward on the configured data directory and database."""
    ctx = service_context({"ssh_host": ssh_host, "ssh_port": ssh_port, "http_port": http_port})
    configure_logging(ctx.settings.log_level)
    asyncio.run(_run(ctx))
