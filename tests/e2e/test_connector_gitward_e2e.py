"""The connector against a real `gitward serve`: a deploy key, a machine user's key, and a
certificate from the server's own issuing API through the org-ID@ URL of an organization
that requires certificates; then a second `gitward serve` on the connector's data
directory renews that (one-minute) certificate on its own, and syncs on a signed webhook,
across renewals."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gitward.services import accounts, orgs, repositories
from gitward.services.context import Context
from gitward.services.managed_ca import create_managed_ca
from gitward.services.tokens import create_token
from tests.e2e.connector_helpers import Connector, git
from tests.e2e.harness import Client, Server, server_env

MakeClient = Callable[..., Client]


def _pin(connector: Connector, server: Server, tmp: Path) -> None:
    known = server.known_hosts(tmp / "server_known_hosts")
    connector.ok("host", "pin", f"127.0.0.1:{server.port}", "--known-hosts", str(known))


def _push(client: Client, repo: str, *messages: str) -> None:
    work = client.home / f"push_{repo.replace('/', '_')}"
    if not work.exists():
        assert client.git("clone", "-q", client.url(repo), str(work)).code == 0
    for number, message in enumerate(messages):
        (work / f"{message[:8]}-{number}.txt").write_text(message)
        client.git("add", ".", cwd=work)
        client.git("commit", "-q", "-m", message, cwd=work)
    pushed = client.git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
    assert pushed.code == 0, pushed.err


def _owner_client(admin: Context, make_client: MakeClient, user: str, org: str) -> Client:
    client = make_client()
    accounts.create_user(admin, user)
    accounts.add_key(admin, user, Path(f"{client.key}.pub").read_bytes())
    orgs.add_member(admin, org, user, role="owner")
    return client


def test_ok_deploy_key_then_not_found(
    admin: Context, make_client: MakeClient, server: Server, tmp_path: Path
) -> None:
    orgs.create_org(admin, "cn-deploy")
    dev = _owner_client(admin, make_client, "cn-dev", "cn-deploy")
    repositories.create_repo(admin, "cn-deploy/app")
    _push(dev, "cn-deploy/app", "DEP-1 first", "DEP-2 second")

    connector = Connector(tmp_path / "data")
    connector.ok("key", "generate")
    _pin(connector, server, tmp_path)
    connector.ok("repo", "add", f"ssh://git@127.0.0.1:{server.port}/cn-deploy/app.git")
    connector.ok("repo", "add", f"ssh://git@127.0.0.1:{server.port}/cn-deploy/nope.git")
    refused = connector.failed("test", "app")
    assert "app: auth_refused:" in refused.out and connector.public_line() in refused.out

    repositories.add_deploy_key(admin, "cn-deploy/app", connector.public_line().encode())
    assert connector.ok("test", "app").out.strip() == "app: ok (1 refs, default branch main)"
    assert "app: ok (1 branches, 2 new commits indexed" in connector.ok("sync", "app").out
    found = connector.json("search", "DEP-2")["commits"]
    assert found[0]["author_email"] == "test@example.com" and found[0]["branches"] == ["main"]
    # Gitward answers a missing repository and a hidden one alike.
    missing = connector.failed("test", "nope")
    assert "nope: not_found: ERROR: Repository not found." in missing.out


def test_ok_machine_users_key_on_a_user_repository(
    admin: Context, server: Server, make_client: MakeClient, tmp_path: Path
) -> None:
    owner = make_client()
    accounts.create_user(admin, "cn-owner")
    accounts.add_key(admin, "cn-owner", Path(f"{owner.key}.pub").read_bytes())
    repositories.create_repo(admin, "cn-owner/tools")
    _push(owner, "cn-owner/tools", "TOOL-5 script")

    connector = Connector(tmp_path / "data")
    connector.ok("key", "generate", "-t", "rsa", "-b", "3072")
    _pin(connector, server, tmp_path)
    accounts.create_user(admin, "cn-bot")
    accounts.add_key(admin, "cn-bot", connector.public_line().encode())
    repositories.grant(admin, "cn-owner/tools", "cn-bot", "read")
    connector.ok("repo", "add", f"ssh://git@127.0.0.1:{server.port}/cn-owner/tools.git")
    connector.ok("sync")
    assert connector.json("search", "TOOL-5")["commits"][0]["subject"] == "TOOL-5 script"


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _wait(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_ok_certificate_through_org_id_renewed_by_serve_across_syncs(
    admin: Context, server: Server, make_client: MakeClient, tmp_path: Path
) -> None:
    assert server.http_url is not None
    org = orgs.create_org(admin, "cn-secure")
    dev = _owner_client(admin, make_client, "cn-sec-dev", "cn-secure")
    repositories.create_repo(admin, "cn-secure/app")
    _push(dev, "cn-secure/app", "SEC-1 before certificates")
    orgs.require_certificates(admin, "cn-secure", True)
    create_managed_ca(admin, org="cn-secure")
    # A machine user for the connector: the certificate's login@ names it.
    accounts.create_user(admin, "cn-sec-bot")
    orgs.add_member(admin, "cn-secure", "cn-sec-bot")
    token = create_token(admin, "cn-sec-bot").token

    data = tmp_path / "connector"
    connector = Connector(data)
    connector.ok("key", "generate")
    _pin(connector, server, tmp_path)
    accounts.add_key(admin, "cn-sec-bot", connector.public_line().encode())
    connector.ok(
        "repo", "add", f"ssh://git@127.0.0.1:{server.port}/cn-secure/app.git", "--name", "plain"
    )
    needs = connector.failed("test", "plain")
    assert "plain: certificate_required:" in needs.out and "key certify" in needs.out
    assert f"org-{org.id}@" in needs.out

    certified = connector.json(
        "key",
        "certify",
        "--server",
        server.http_url,
        "--token",
        token,
        "--org",
        "cn-secure",
        "--validity",
        "1m",
    )
    first_expiry = certified["certificate_valid_before"]
    added = connector.json(
        "repo",
        "add",
        f"ssh://org-{org.id}@127.0.0.1:{server.port}/cn-secure/app.git",
        "--name",
        "secure",
    )
    connector.ok("repo", "remove", "plain")
    assert connector.ok("test").out.strip() == "secure: ok (1 refs, default branch main)"

    # The connector's own `gitward serve`: it syncs on schedule, renews the certificate
    # before it expires, and syncs at once on a signed webhook.
    frontend = Server(data, server_env()).start()
    try:
        status = lambda: connector.json("key", "show")["active"]  # noqa: E731
        _wait(
            "the first scheduled sync",
            lambda: bool(connector.json("search", "SEC-1")["commits"]),
            60,
        )
        _wait("a renewal", lambda: status()["certificate_valid_before"] != first_expiry, 90)
        assert status()["certificate_renewal_error"] is None

        # The developer has no certificate: push on the server's disk instead.
        work = dev.home / "push_cn-secure_app"
        (work / "sec2.txt").write_text("after a renewal")
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "SEC-2 after a renewal", cwd=work)
        git(
            "push",
            "-q",
            str(server.data_dir / "repos" / "cn-secure" / "app.git"),
            "HEAD:refs/heads/main",
            cwd=work,
        )
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        url = f"{frontend.http_url}/api/v1/connector/repositories/secure/sync"
        bad = httpx.post(url, content=body, headers={"X-Hub-Signature-256": _sign("x", body)})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
        good = httpx.post(
            url,
            content=body,
            headers={"X-Hub-Signature-256": _sign(added["webhook_secret"], body)},
        )
        assert good.status_code == 202, good.text
        _wait("the webhook's sync", lambda: bool(connector.json("search", "SEC-2")["commits"]), 60)
        repo = connector.json("repo", "list")[0]
        assert repo["last_outcome"] == "ok" and repo["consecutive_failures"] == 0
    finally:
        frontend.stop()
    assert "connector_certificate_renewed" in frontend.log()
