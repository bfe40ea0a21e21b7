"""`gitward cert check`: would the server accept this certificate for that repository?"""

from __future__ import annotations

import datetime as dt

import click

from gitward.cli.cert import cert_group, read_certificates
from gitward.cli.common import echo_json, fail, handle_errors
from gitward.cli.context import service_context, settings_options
from gitward.errors import InvalidInput
from gitward.services.ssh_access import CertificateCheck, check_certificate_offline


def parse_moment(text: str | None) -> dt.datetime:
    """``--at``: an ISO 8601 time (UTC when no zone is given) or YYYYMMDD[HHMM[SS]]."""
    if text is None or text == "now":
        return dt.datetime.now(dt.UTC)
    for form in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, form).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"--at takes an ISO 8601 time or YYYYMMDD[HHMM[SS]], not {text!r}"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _report(check: CertificateCheck, operation: str, repo: str) -> list[str]:
    verdict = "ACCEPTED" if check.accepted else "REFUSED"
    lines = [
        f"Gitward user: {check.user or '(none on this server)'}",
        f"Trusted by: {check.ca or '(no registered certificate authority)'}",
        f"{operation} {repo}: {verdict}",
    ]
    for problem in check.problems:
        detail = f": {problem.detail}" if problem.detail else ""
        lines.append(f"  - {problem.message} [{problem.reason.value}{detail}]")
    return lines


@cert_group.command("check")
@click.argument("path", metavar="FILE")
@click.option("--repo", required=True, metavar="OWNER/NAME", help="The repository to reach.")
@click.option(
    "--from",
    "peer",
    default="127.0.0.1",
    show_default=True,
    help="The client address (for source-address).",
)
@click.option("--at", "at", default=None, help="When (ISO 8601 or YYYYMMDD[HHMM[SS]]); now.")
@click.option("--ssh-user", default="git", show_default=True, help="git or org-ID.")
@click.option("--write", "write", is_flag=True, help="Check pushing (default: cloning).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@handle_errors
def check_cmd(
    path: str, repo: str, peer: str, at: str | None, ssh_user: str, write: bool, as_json: bool
) -> None:
    """Tell, from this server's database, whether the server would accept certificate FILE
    for OWNER/NAME, and every reason if not. Exit 0 when accepted, 1 when refused."""
    moment = parse_moment(at)
    (_, cert), *_ = read_certificates(path)
    operation = "push" if write else "clone"
    check = check_certificate_offline(
        service_context(),
        cert,
        repo=repo,
        operation="write" if write else "read",
        ssh_username=ssh_user,
        peer=peer,
        at=moment,
    )
    if as_json:
        echo_json(
            {
                "accepted": check.accepted,
                "user": check.user,
                "ca": check.ca,
                "operation": operation,
                "repository": repo,
                "at": moment.isoformat(),
                "problems": [
                    {"reason": p.reason.value, "message": p.message, "detail": p.detail}
                    for p in check.problems
                ],
            }
        )
    else:
        for line in _report(check, operation, repo):
            click.echo(line)
    if not check.accepted:
        fail(f"the server would refuse this certificate ({len(check.problems)} reasons above)")
