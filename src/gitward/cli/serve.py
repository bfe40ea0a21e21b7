"""`gitward serve`: open the store and run the servers."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from gitward import __version__
from gitward.cli.common import handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.logging import configure_logging
from gitward.settings import Settings


def _banner(settings: Settings, database: str) -> str:
    data_dir = settings.data_dir.resolve()
    flags = f"--data-dir {settings.data_dir}" if settings.data_dir != Path("var") else ""
    gw = f"gitward {flags}".rstrip()
    return f"""\
Gitward {__version__}
  data directory : {data_dir}
  database       : {database} (migrations applied)
  hostname       : {settings.hostname}

The SSH server is not built yet (issue 4 is in progress): nothing listens on
{settings.ssh_host}:{settings.ssh_port}, so clones do not work yet. The store is ready and the admin
commands work against it. Next steps:
  {gw} user create alice
  {gw} key add alice ~/.ssh/id_ed25519.pub
  {gw} org create acme && {gw} org member add acme alice --role owner
  {gw} repo create acme/app && {gw} repo url acme/app
This process keeps the store open until you press Ctrl-C."""


@click.command("serve")
@click.option("--ssh-port", type=int, help="SSH port [GITWARD_SSH_PORT, default 2222].")
@click.option("--http-port", type=int, help="HTTP port [GITWARD_HTTP_PORT, default 8080].")
@settings_options
@handle_errors
def serve(ssh_port: int | None, http_port: int | None) -> None:
    """Run Gitward on the configured data directory and database."""
    ctx = service_context({"ssh_port": ssh_port, "http_port": http_port})
    configure_logging(ctx.settings.log_level)
    database = ctx.engine.url.render_as_string(hide_password=True)
    click.echo(_banner(ctx.settings, database), err=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    click.echo("stopped")
