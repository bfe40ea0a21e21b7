"""Issue 5's day in the life, against a real `gitward serve` (SSH + HTTP): a developer with
a token runs `gitward login`, clones with the certificate it got; an administrator lists
the certificates issued, revokes one, and the next clone with it is refused."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from gitward.services import accounts, orgs, repositories
from gitward.services.context import Context
from gitward.services.managed_ca import create_managed_ca
from gitward.services.tokens import create_token
from tests.e2e.harness import GITWARD, Client, Server

MakeClient = Callable[..., Client]


def _gitward(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITWARD_")}
    argv = [str(GITWARD), *args] + (["--data-dir", str(data_dir)] if data_dir else [])
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_ok_login_clone_list_revoke_refused(
    admin: Context, make_client: MakeClient, server: Server
) -> None:
    assert server.http_url is not None, server.log()
    org = orgs.create_org(admin, "iss-acme")
    accounts.create_user(admin, "iss-alice")
    orgs.add_member(admin, org.name, "iss-alice")
    repositories.create_repo(admin, f"{org.name}/app")
    ca = create_managed_ca(admin, org=org.name)
    token = create_token(admin, "iss-alice").token
    dev = make_client(ssh_user=f"org-{org.id}")

    login = _gitward(
        "login",
        "--server",
        server.http_url,
        "--token",
        token,
        "--key",
        str(dev.key),
        "--org",
        org.name,
    )
    assert login.returncode == 0, login.stderr
    assert f"org-{org.id}@" in login.stdout and "valid until" in login.stdout
    assert f"ssh://org-{org.id}@gitward.test:{server.port}/OWNER/REPO.git" in login.stdout
    dev.cert = Path(f"{dev.key}-cert.pub")
    assert dev.cert.is_file()
    assert dev.clone(f"{org.name}/app").code == 0

    listed = _gitward("cert", "list", "--user", "iss-alice", "--json", data_dir=server.data_dir)
    certs = json.loads(listed.stdout)
    assert len(certs) == 1 and certs[0]["key_id"].startswith("iss-alice-")
    fingerprint = json.loads(_gitward("ca", "list", "--json", data_dir=server.data_dir).stdout)
    assert any(c["fingerprint"] == ca.fingerprint for c in fingerprint)
    revoke = _gitward(
        "cert",
        "revoke",
        "--serial",
        str(certs[0]["serial"]),
        "--ca",
        ca.fingerprint,
        data_dir=server.data_dir,
    )
    assert revoke.returncode == 0, revoke.stderr
    refused = dev.clone(f"{org.name}/app")
    assert "ERROR: This SSH certificate has been revoked." in refused.err


def test_fail_login_with_a_bad_token_is_one_clear_line(
    make_client: MakeClient, server: Server
) -> None:
    dev = make_client()
    login = _gitward(
        "login", "--server", str(server.http_url), "--token", "gwp_nope", "--key", str(dev.key)
    )
    assert login.returncode == 1
    assert len(login.stderr.splitlines()) == 1 and login.stderr.startswith("error: ")
    assert not Path(f"{dev.key}-cert.pub").exists()
