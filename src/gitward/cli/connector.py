"""`gitward connector ...`: one key pair for every connected repository, pinned host keys,
a test per repository, mirrors, and the issue-key index (the contract is issue 10's).

``test`` and ``sync`` print one line per repository on standard output; when any fails
they end with one ``error:`` line and exit 1 (the others still ran). ``sync`` draws rich
progress bars when standard output is a terminal, and plain lines otherwise.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitward.cli.common import echo_json, fail, handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.cli.keys import _given as passphrase_given
from gitward.connector.issue_keys import normalise_search_key
from gitward.errors import InvalidInput
from gitward.keys.files import read_key_file
from gitward.services import connector_hosts, connector_keys, connector_repos, connector_sync
from gitward.services.connector_index import DEFAULT_SEARCH_LIMIT, IssueView, search
from gitward.services.connector_keys import ConnectorKeyView, KeyStatus
from gitward.services.connector_sync import SyncResult

if TYPE_CHECKING:
    from rich.progress import TaskID

json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group(name="connector")
def connector_group() -> None:
    """Reach remote repositories with one key pair; mirror them and index issue keys."""


@connector_group.group(name="key")
def key_group() -> None:
    """The connector's key pair: generate, import, show, certify."""


@connector_group.group(name="host")
def host_group() -> None:
    """Host keys: scan a host, pin its key, list and unpin pins."""


@connector_group.group(name="repo")
def repo_group() -> None:
    """Connected repositories: add, list, remove."""


# ---- key ------------------------------------------------------------------------------


def _key_lines(view: ConnectorKeyView) -> list[str]:
    lines = [
        view.public_key,
        f"{view.fingerprint} ({view.key_type}, {view.bits} bits, {view.state})",
    ]
    if view.certificate_valid_before is not None:
        lines.append(
            f"certificate valid until {view.certificate_valid_before.isoformat()} "
            f"(from {view.certified_by}, organization {view.certificate_organization or '-'})"
        )
    if view.certificate_renewal_error:
        lines.append(f"last certificate renewal failed: {view.certificate_renewal_error}")
    return lines


def _print_status(status: KeyStatus, *, changed: bool) -> None:
    if status.pending is not None and changed:
        click.echo("\n".join(_key_lines(status.pending)))
        click.echo(
            "the new key is pending: add its public key on every host, then run "
            "`gitward connector test`; it replaces the current key once every repository "
            "accepts it (syncs offer both meanwhile)"
        )
        return
    if status.active is not None:
        click.echo("\n".join(_key_lines(status.active)))
    if status.pending is not None:
        click.echo("pending replacement:")
        click.echo("\n".join("  " + line for line in _key_lines(status.pending)))
        if status.old_key_only:
            click.echo(
                "repositories that still accept only the old key: " + ", ".join(status.old_key_only)
            )


@key_group.command("generate")
@click.option(
    "-t",
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "rsa", "ecdsa"]),
    default="ed25519",
    show_default=True,
    help="Key algorithm.",
)
@click.option("-b", "--bits", type=int, default=None, help="RSA: 2048-8192; ECDSA: 256/384/521.")
@json_flag
@settings_options
@handle_errors
def key_generate(key_type: str, bits: int | None, as_json: bool) -> None:
    """Generate the connector's key pair (or its replacement); print its public line."""
    status = connector_keys.generate(service_context(), key_type, bits)
    echo_json(status.to_json()) if as_json else _print_status(status, changed=True)


@key_group.command("import")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("-P", "--passphrase", default=None, help="Passphrase (visible in ps).")
@click.option("--passphrase-env", metavar="VAR", default=None, help="Read it from VAR.")
@json_flag
@settings_options
@handle_errors
def key_import(
    path: str, passphrase: str | None, passphrase_env: str | None, as_json: bool
) -> None:
    """Import the connector's key from FILE: OpenSSH, PEM (PKCS#1, PKCS#8, SEC1), PuTTY
    .ppk v2/v3, encrypted or not."""
    secret = passphrase_given(passphrase, passphrase_env)
    if secret is None and sys.stdin.isatty():
        from gitward.keys import inspect_key

        data = read_key_file(path)
        if inspect_key(data).encrypted:
            secret = click.prompt(
                f"Passphrase for {path}", hide_input=True, default="", show_default=False
            ).encode()
    status = connector_keys.import_key(service_context(), read_key_file(path), secret, path=path)
    echo_json(status.to_json()) if as_json else _print_status(status, changed=True)


@key_group.command("show")
@json_flag
@settings_options
@handle_errors
def key_show(as_json: bool) -> None:
    """The public line, type, bits, fingerprint and certificate expiry."""
    status = connector_keys.status(service_context())
    if as_json:
        echo_json(status.to_json())
        return
    if status.active is None and status.pending is None:
        fail("the connector has no key yet: run `gitward connector key generate`")
    _print_status(status, changed=False)


@key_group.command("certify")
@click.option("--server", required=True, metavar="URL", help="The issuing Gitward's web address.")
@click.option(
    "--token",
    default=None,
    help="An access token (cert:issue) of the user the "
    "certificate names; visible in ps, prefer --token-env.",
)
@click.option("--token-env", default="GITWARD_TOKEN", show_default=True, metavar="VAR")
@click.option("--org", default=None, help="The organization whose CA signs.")
@click.option(
    "--validity", default=None, metavar="INTERVAL", help="e.g. 1d (default the server's)."
)
@json_flag
@settings_options
@handle_errors
def key_certify(
    server: str,
    token: str | None,
    token_env: str,
    org: str | None,
    validity: str | None,
    as_json: bool,
) -> None:
    """Get a certificate for the connector's key; serve renews it before it expires."""
    secret = token or os.environ.get(token_env)
    if not secret:
        raise InvalidInput(f"no access token: pass --token or set {token_env}")
    view = connector_keys.certify(
        service_context(), server=server, token=secret, organization=org, validity=validity
    )
    echo_json(view.to_json()) if as_json else click.echo("\n".join(_key_lines(view)))


# ---- host -----------------------------------------------------------------------------


@host_group.command("scan")
@click.argument("host_port", metavar="HOST[:PORT]")
@json_flag
@settings_options
@handle_errors
def host_scan(host_port: str, as_json: bool) -> None:
    """Show the host's keys and fingerprints; pins nothing."""
    keys = connector_hosts.scan(service_context(), host_port)
    if as_json:
        echo_json([k.to_json() for k in keys])
        return
    for key in keys:
        click.echo(f"{key.host_port}\t{key.key_type}\t{key.fingerprint}")
    click.echo(
        f"to trust one: gitward connector host pin {keys[0].host_port} "
        f"--fingerprint {keys[0].fingerprint}  (check it with the host's administrator first)",
        err=True,
    )


@host_group.command("pin")
@click.argument("host_port", metavar="HOST[:PORT]")
@click.option("--fingerprint", default=None, help="SHA256:... of the key the host presents.")
@click.option("--key", "key_line", default=None, help="The key itself: 'TYPE BASE64'.")
@click.option(
    "--known-hosts",
    "known_hosts",
    default=None,
    type=click.Path(dir_okay=False),
    help="A known_hosts file (plain or hashed entries).",
)
@json_flag
@settings_options
@handle_errors
def host_pin(
    host_port: str,
    fingerprint: str | None,
    key_line: str | None,
    known_hosts: str | None,
    as_json: bool,
) -> None:
    """Pin the host's key: every repository on HOST:PORT uses it."""
    data = None
    if known_hosts is not None:
        try:
            data = Path(known_hosts).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {known_hosts}: {exc.strerror or exc}") from exc
    pins = connector_hosts.pin(
        service_context(),
        host_port,
        fingerprint=fingerprint,
        key_line=key_line,
        known_hosts=data,
    )
    if as_json:
        echo_json([p.to_json() for p in pins])
        return
    for pin in pins:
        click.echo(f"pinned {pin.host_port}\t{pin.key_type}\t{pin.fingerprint}")


@host_group.command("list")
@json_flag
@settings_options
@handle_errors
def host_list(as_json: bool) -> None:
    pins = connector_hosts.list_pins(service_context())
    if as_json:
        echo_json([p.to_json() for p in pins])
        return
    for pin in pins:
        click.echo(f"{pin.host_port}\t{pin.key_type}\t{pin.fingerprint}")


@host_group.command("unpin")
@click.argument("host_port", metavar="HOST[:PORT]")
@settings_options
@handle_errors
def host_unpin(host_port: str) -> None:
    for pin in connector_hosts.unpin(service_context(), host_port):
        click.echo(f"unpinned {pin.host_port}\t{pin.key_type}\t{pin.fingerprint}")


# ---- repo -----------------------------------------------------------------------------


@repo_group.command("add")
@click.argument("url")
@click.option("--name", default=None, help="Default: the last part of the URL's path.")
@click.option(
    "--interval",
    default=connector_repos.DEFAULT_INTERVAL,
    show_default=True,
    help="How often serve syncs it (1m to 7d).",
)
@json_flag
@settings_options
@handle_errors
def repo_add(url: str, name: str | None, interval: str, as_json: bool) -> None:
    """Connect git@host:path.git or ssh://user@host:port/path."""
    added = connector_repos.add(service_context(), url, name=name, interval=interval)
    if as_json:
        echo_json(added.to_json())
        return
    view = added.view
    click.echo(f"added {view.name} ({view.url}), synced every {view.interval_seconds} s")
    click.echo(f"webhook secret (shown once): {added.webhook_secret}")
    if not added.host_pinned:
        click.echo(
            f"no host key is pinned for {view.host_port} yet: run "
            f"`gitward connector host scan {view.host_port}`, then `host pin`",
            err=True,
        )


@repo_group.command("list")
@json_flag
@settings_options
@handle_errors
def repo_list(as_json: bool) -> None:
    found = connector_repos.list_repositories(service_context())
    if as_json:
        echo_json([r.to_json() for r in found])
        return
    for r in found:
        when = r.last_success_at.isoformat() if r.last_success_at else "never"
        state = r.last_outcome or "not synced"
        if r.last_error_kind:
            state += f" ({r.last_error_kind}, {r.consecutive_failures} in a row)"
        click.echo(f"{r.name}\t{r.url}\t{state}\tlast success {when}\t{r.branches} branches")


@repo_group.command("remove")
@click.argument("name")
@settings_options
@handle_errors
def repo_remove(name: str) -> None:
    """Disconnect NAME: its mirror and its index go."""
    view = connector_repos.remove(service_context(), name)
    click.echo(f"removed {view.name}")


# ---- test / sync / search ---------------------------------------------------------------


@connector_group.command("test")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@json_flag
@settings_options
@handle_errors
def test_cmd(names: tuple[str, ...], as_json: bool) -> None:
    """One verdict line per repository (all by default); exit 1 if any fails."""
    report = connector_sync.test_repositories(service_context(), names)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "new_key_promoted": report.new_key_promoted,
                "repositories": [v.to_json() for v in report.verdicts],
            }
        )
    else:
        for verdict in report.verdicts:
            click.echo(verdict.line())
        if report.new_key_promoted:
            click.echo("every repository accepts the new key: it is now the connector's key")
    failed = [v for v in report.verdicts if not v.ok]
    if failed:
        fail(f"{len(failed)} of {len(report.verdicts)} repositories failed the test")
    if not report.verdicts:
        fail("no repositories are connected: add one with `gitward connector repo add URL`")


class _PlainProgress:
    """Lines, for logs and pipes: a start and an end per repository."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def started(self, name: str) -> None:
        with self._lock:
            click.echo(f"{name}: fetching", err=True)

    def advanced(self, name: str, phase: str, done: int, total: int) -> None:
        pass

    def finished(self, result: SyncResult) -> None:
        with self._lock:
            click.echo(result.line())


class _RichProgress:
    """A bar per repository on a terminal (rich draws from several threads safely)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.fields[repo]}"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def _task(self, name: str) -> TaskID:
        with self._lock:
            if name not in self._tasks:
                self._tasks[name] = self.progress.add_task("waiting", repo=name, total=None)
            return self._tasks[name]

    def started(self, name: str) -> None:
        self.progress.update(self._task(name), description="connecting")

    def advanced(self, name: str, phase: str, done: int, total: int) -> None:
        task = self._task(name)
        if total:
            self.progress.update(task, description=phase, completed=done, total=total)
        else:
            self.progress.update(task, description=phase)

    def finished(self, result: SyncResult) -> None:
        task = self._task(result.repository)
        self.progress.update(
            task, description="done" if result.ok else "FAILED", completed=1, total=1
        )
        self.progress.console.print(result.line(), highlight=False, markup=False)


@connector_group.command("sync")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@json_flag
@settings_options
@handle_errors
def sync_cmd(names: tuple[str, ...], as_json: bool) -> None:
    """Fetch each repository into its mirror, then index it; several at once."""
    ctx = service_context()
    if as_json:
        results = connector_sync.sync_repositories(ctx, names)
        echo_json([r.to_json() for r in results])
    elif sys.stdout.isatty():
        rich_progress = _RichProgress()
        with rich_progress.progress:
            results = connector_sync.sync_repositories(ctx, names, progress=rich_progress)
    else:
        results = connector_sync.sync_repositories(ctx, names, progress=_PlainProgress())
    failed = [r for r in results if not r.ok and not r.skipped]
    if failed:
        fail(f"{len(failed)} of {len(results)} repositories failed to sync")
    if not results:
        fail("no repositories are connected: add one with `gitward connector repo add URL`")


@connector_group.command("search")
@click.argument("issue_key", metavar="ISSUE-KEY")
@click.option(
    "--limit",
    type=click.IntRange(1, 10000),
    default=DEFAULT_SEARCH_LIMIT,
    show_default=True,
    help="At most this many commits.",
)
@json_flag
@settings_options
@handle_errors
def search_cmd(issue_key: str, limit: int, as_json: bool) -> None:
    """Commits and branches mentioning ISSUE-KEY, in every connected repository."""
    found: IssueView = search(service_context(), normalise_search_key(issue_key), limit=limit)
    if as_json:
        echo_json(found.to_json())
        return
    for c in found.commits:
        where = ", ".join(c.branches) if c.branches else "no branch"
        mark = "" if c.reachable else " [unreachable]"
        click.echo(
            f"{c.repository}\t{c.sha[:12]}\t{c.authored_at.date().isoformat()}\t"
            f"{c.author_name} <{c.author_email}>\t{c.subject}\t({c.files_changed} files; "
            f"{where}){mark}"
        )
    for b in found.branches:
        click.echo(f"{b.repository}\tbranch {b.name}\t{b.sha[:12]}")
    if found.truncated:
        click.echo(f"(only the newest {limit} commits; use --limit for more)", err=True)
    if not found.commits and not found.branches:
        click.echo(f"nothing mentions {found.issue_key}", err=True)
