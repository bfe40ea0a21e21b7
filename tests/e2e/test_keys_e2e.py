"""Plain keys and deploy keys over real ssh and git (issue 4)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from gitward.services import accounts, orgs, repositories
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.queries import audit
from tests.e2e.harness import Client, Server

MakeClient = Callable[..., Client]


def _user_with_key(admin: Context, make_client: MakeClient, name: str, **kw: str) -> Client:
    client = make_client(**kw)
    accounts.create_user(admin, name)
    accounts.add_key(admin, name, Path(f"{client.key}.pub").read_bytes())
    return client


def test_ok_shell_greets_and_exits_1(admin: Context, make_client: MakeClient) -> None:
    alice = _user_with_key(admin, make_client, "greet-alice")
    result = alice.ssh()
    assert result.code == 1
    assert result.err.strip() == (
        "Hi greet-alice! You've successfully authenticated, but Gitward does not provide "
        "shell access."
    )


def test_ok_clone_push_fetch_archive(admin: Context, make_client: MakeClient) -> None:
    alice = _user_with_key(admin, make_client, "kp-alice")
    orgs.create_org(admin, "kp-acme")
    orgs.add_member(admin, "kp-acme", "kp-alice", "owner")
    repositories.create_repo(admin, "kp-acme/app")
    assert alice.push_new_commit("kp-acme/app", "one.txt").code == 0
    clone = alice.clone("kp-acme/app", "fresh")
    assert clone.code == 0, clone.err
    assert (alice.home / "fresh" / "one.txt").is_file()
    assert alice.push_new_commit("kp-acme/app", "two.txt").code == 0
    fetch = alice.git("fetch", "-q", "origin", cwd=alice.home / "fresh")
    assert fetch.code == 0, fetch.err
    log = alice.git("log", "--oneline", "origin/main", cwd=alice.home / "fresh")
    assert len(log.out.splitlines()) == 2
    archive = subprocess.run(
        ["git", "archive", f"--remote={alice.url('kp-acme/app')}", "HEAD"],
        capture_output=True,
        env=alice.env(),
        cwd=alice.home,
        check=False,
    )
    assert archive.returncode == 0
    listing = subprocess.run(["tar", "t"], input=archive.stdout, capture_output=True, check=True)
    assert sorted(listing.stdout.decode().split()) == ["one.txt", "two.txt"]


def test_ok_protocol_v2_is_negotiated(admin: Context, make_client: MakeClient) -> None:
    alice = _user_with_key(admin, make_client, "v2-alice")
    repositories.create_repo(admin, "v2-alice/app")
    alice.push_new_commit("v2-alice/app")
    env = {**alice.env(), "GIT_TRACE_PACKET": "1"}
    proc = subprocess.run(
        ["git", "-c", "protocol.version=2", "ls-remote", alice.url("v2-alice/app")],
        capture_output=True,
        env=env,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "version 2" in proc.stderr


def test_fail_missing_and_invisible_repositories_look_the_same(
    admin: Context, make_client: MakeClient
) -> None:
    bob = _user_with_key(admin, make_client, "nf-bob")
    accounts.create_user(admin, "nf-carol")
    repositories.create_repo(admin, "nf-carol/secret")
    for repo in ("nf-carol/secret", "nf-carol/nothing", "nobody/nothing"):
        result = bob.clone(repo)
        assert result.code != 0
        assert "ERROR: Repository not found." in result.err, result.err


def test_fail_read_only_collaborator_cannot_push(admin: Context, make_client: MakeClient) -> None:
    owner = _user_with_key(admin, make_client, "ro-owner")
    reader = _user_with_key(admin, make_client, "ro-reader")
    repositories.create_repo(admin, "ro-owner/app")
    assert owner.push_new_commit("ro-owner/app").code == 0
    repositories.grant(admin, "ro-owner/app", "ro-reader", "read")
    assert reader.clone("ro-owner/app").code == 0
    push = reader.push_new_commit("ro-owner/app")
    assert push.code != 0
    assert "ERROR: Permission to ro-owner/app denied to ro-reader." in push.err
    repositories.grant(admin, "ro-owner/app", "ro-reader", "write")
    assert reader.push_new_commit("ro-owner/app", "again.txt").code == 0


def test_ok_deploy_keys_reach_one_repository(
    admin: Context, make_client: MakeClient, server: Server
) -> None:
    owner = _user_with_key(admin, make_client, "dk-owner")
    repositories.create_repo(admin, "dk-owner/app")
    repositories.create_repo(admin, "dk-owner/other")
    owner.push_new_commit("dk-owner/app")
    reader, writer = make_client(), make_client()
    repositories.add_deploy_key(admin, "dk-owner/app", Path(f"{reader.key}.pub").read_bytes())
    repositories.add_deploy_key(
        admin, "dk-owner/app", Path(f"{writer.key}.pub").read_bytes(), write=True
    )
    assert "Hi dk-owner/app!" in reader.ssh().err
    assert reader.clone("dk-owner/app").code == 0
    push = reader.push_new_commit("dk-owner/app")
    assert "ERROR: Permission to dk-owner/app denied to deploy key." in push.err
    assert writer.push_new_commit("dk-owner/app", "deployed.txt").code == 0
    assert "ERROR: Repository not found." in reader.clone("dk-owner/other").err


def test_fail_suspended_user_is_told(admin: Context, make_client: MakeClient) -> None:
    dave = _user_with_key(admin, make_client, "sus-dave")
    repositories.create_repo(admin, "sus-dave/app")
    accounts.set_suspended(admin, "sus-dave", True)
    result = dave.clone("sus-dave/app")
    assert "ERROR: Your account is suspended." in result.err
    accounts.set_suspended(admin, "sus-dave", False)
    assert dave.clone("sus-dave/app").code == 0


def test_fail_unknown_key_is_plain_ssh_failure(make_client: MakeClient) -> None:
    stranger = make_client()
    result = stranger.ssh()
    assert result.code == 255
    assert "Permission denied (publickey)" in result.err


def test_ok_every_decision_is_audited(admin: Context, make_client: MakeClient) -> None:
    erin = _user_with_key(admin, make_client, "audit-erin")
    repositories.create_repo(admin, "audit-erin/app")
    erin.clone("audit-erin/app")
    erin.clone("audit-erin/missing")
    with transaction(admin.engine) as session:
        events = [
            (e.action, e.target, e.outcome, e.peer, e.actor)
            for e in audit.recent_events(session, 50)
        ]
    assert ("git-upload-pack", "audit-erin/app", "ok", "127.0.0.1", "audit-erin") in events
    assert ("git-upload-pack", "audit-erin/missing", "denied", "127.0.0.1", "audit-erin") in events
    assert any(a == "ssh.auth" and "of audit-erin" in t and o == "ok" for a, t, o, _, _ in events)
