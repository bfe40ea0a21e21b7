"""The `gitward` command: nouns, then verbs (see ARCHITECTURE.md, command-line contract)."""

from __future__ import annotations

import click

from gitward import __version__
from gitward.cli.accounts import enterprise_group, key_group, org_group, user_group
from gitward.cli.cert import cert_group
from gitward.cli.cert_check import check_cmd as _register_cert_check  # noqa: F401
from gitward.cli.common import SafeGroup
from gitward.cli.connector import connector_group
from gitward.cli.context import settings_options
from gitward.cli.keys import keys_group
from gitward.cli.krl import krl_group
from gitward.cli.login import login
from gitward.cli.repos import ca_group, deploy_key_group, repo_group
from gitward.cli.serve import serve
from gitward.cli.token import token_group
from gitward.logging import configure_logging


@click.group(cls=SafeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitward")
@settings_options
def cli() -> None:
    """Gitward: Git over SSH with keys and organization certificate authorities."""
    configure_logging("warning")


for command in (
    serve,
    user_group,
    key_group,
    enterprise_group,
    org_group,
    ca_group,
    repo_group,
    deploy_key_group,
    keys_group,
    cert_group,
    token_group,
    krl_group,
    login,
    connector_group,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="gitward")
