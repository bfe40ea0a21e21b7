"""Organizations, CAs, repositories and deploy keys through the services."""

from __future__ import annotations

import subprocess

import pytest

from gitward.errors import AlreadyExists, InvalidInput, KeyRejected, NotFound
from gitward.services import accounts, authorities, orgs, repositories
from gitward.services.context import Context
from tests.conftest import VECTORS

UP = VECTORS / "upload"
CA = (UP / "ca_key.pub").read_bytes()
OTHER_CA = (UP / "other_ca_key.pub").read_bytes()


def test_ok_org_in_enterprise_members_and_certificate_requirement(ctx: Context) -> None:
    orgs.create_enterprise(ctx, "megacorp")
    org = orgs.create_org(ctx, "acme", enterprise="megacorp")
    accounts.create_user(ctx, "alice")
    orgs.add_member(ctx, "acme", "alice")
    orgs.add_member(ctx, "acme", "alice", "owner")  # again: the role changes
    assert orgs.list_members(ctx, "acme") == [{"user": "alice", "role": "owner"}]
    assert orgs.require_certificates(ctx, "acme", True).require_ssh_certificates
    assert [(o.id, o.enterprise, o.require_ssh_certificates) for o in orgs.list_orgs(ctx)] == [
        (org.id, "megacorp", True)
    ]


def test_fail_org_refusals(ctx: Context) -> None:
    with pytest.raises(NotFound, match="no enterprise named 'nope'"):
        orgs.create_org(ctx, "acme", enterprise="nope")
    orgs.create_org(ctx, "acme")
    with pytest.raises(AlreadyExists):
        orgs.create_org(ctx, "Acme")
    with pytest.raises(InvalidInput, match="role must be member or owner"):
        orgs.add_member(ctx, "acme", "alice", "king")
    assert len(orgs.list_orgs(ctx)) == 1


def test_ok_ca_for_org_and_enterprise_then_removed(ctx: Context) -> None:
    orgs.create_enterprise(ctx, "megacorp")
    orgs.create_org(ctx, "acme")
    ca = authorities.add_ca(ctx, CA, org="acme")
    ent_ca = authorities.add_ca(ctx, OTHER_CA, enterprise="megacorp", title="enterprise CA")
    assert (ca.owner_kind, ca.owner, ca.title) == ("organization", "acme", "ca")
    assert (ent_ca.owner_kind, ent_ca.owner) == ("enterprise", "megacorp")
    authorities.remove_ca(ctx, ca.fingerprint)
    assert [c.fingerprint for c in authorities.list_cas(ctx)] == [ent_ca.fingerprint]


def test_fail_ca_refusals(ctx: Context) -> None:
    orgs.create_org(ctx, "acme")
    orgs.create_org(ctx, "globex")
    authorities.add_ca(ctx, CA, org="acme")
    with pytest.raises(AlreadyExists, match="already registered here"):
        authorities.add_ca(ctx, CA, org="acme")
    with pytest.raises(AlreadyExists, match=r"already registered to another account$"):
        authorities.add_ca(ctx, CA, org="globex")
    with pytest.raises(KeyRejected, match="this is a certificate, not a certificate authority"):
        authorities.add_ca(ctx, (UP / "ed25519_key-cert.pub").read_bytes(), org="globex")
    with pytest.raises(InvalidInput, match="exactly one owner"):
        authorities.add_ca(ctx, OTHER_CA)
    accounts.create_user(ctx, "alice")
    accounts.add_key(ctx, "alice", OTHER_CA)
    with pytest.raises(AlreadyExists, match="key is already in use"):
        authorities.add_ca(ctx, OTHER_CA, org="globex")
    with pytest.raises(NotFound):
        authorities.remove_ca(ctx, "SHA256:nope")
    assert len(authorities.list_cas(ctx)) == 1


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def test_ok_create_fork_grant_and_urls(ctx: Context) -> None:
    org = orgs.create_org(ctx, "acme")
    accounts.create_user(ctx, "alice")
    repo = repositories.create_repo(ctx, "acme/app.git")
    assert repo.full_name == "acme/app"
    path = ctx.settings.repos_dir / "acme" / "app.git"
    assert _git("-C", str(path), "rev-parse", "--is-bare-repository").strip() == "true"
    assert _git("-C", str(path), "config", "receive.fsckObjects").strip() == "true"
    fork = repositories.fork_repo(ctx, "acme/app", "alice")
    assert (fork.full_name, fork.fork_of) == ("alice/app", "acme/app")
    assert (ctx.settings.repos_dir / "alice" / "app.git" / "HEAD").is_file()
    assert repositories.grant(ctx, "acme/app", "alice", "write")["permission"] == "write"
    assert repositories.clone_urls(ctx, "acme/app") == [
        "git@git.example.com:acme/app.git",
        f"org-{org.id}@git.example.com:acme/app.git",
    ]
    assert repositories.clone_urls(ctx, "alice/app") == ["git@git.example.com:alice/app.git"]


def test_fail_repo_refusals_leave_nothing_behind(ctx: Context) -> None:
    with pytest.raises(NotFound, match="no user or organization named 'ghost'"):
        repositories.create_repo(ctx, "ghost/app")
    accounts.create_user(ctx, "alice")
    repositories.create_repo(ctx, "alice/app")
    with pytest.raises(AlreadyExists):
        repositories.create_repo(ctx, "alice/APP")
    with pytest.raises(InvalidInput):
        repositories.create_repo(ctx, "alice/../etc")
    with pytest.raises(AlreadyExists):  # forking onto one's own repository of that name
        repositories.fork_repo(ctx, "alice/app", "alice")
    (ctx.settings.repos_dir / "alice" / "stray.git").mkdir()
    with pytest.raises(AlreadyExists, match="a directory already exists"):
        repositories.create_repo(ctx, "alice/stray")
    assert [r.full_name for r in repositories.list_repos(ctx)] == ["alice/app"]
    assert sorted(p.name for p in (ctx.settings.repos_dir / "alice").iterdir()) == [
        "app.git",
        "stray.git",
    ]


def test_ok_deploy_keys_are_read_only_unless_write(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    repositories.create_repo(ctx, "alice/app")
    ro = repositories.add_deploy_key(ctx, "alice/app", (UP / "ed25519_key.pub").read_bytes())
    rw = repositories.add_deploy_key(
        ctx, "alice/app", (UP / "ecdsa256_key.pub").read_bytes(), write=True, title="ci"
    )
    assert (ro.read_only, rw.read_only, rw.title) == (True, False, "ci")
    with pytest.raises(NotFound):
        repositories.add_deploy_key(ctx, "alice/nope", (UP / "rsa2048_key.pub").read_bytes())


def test_ok_ca_list_tells_managed_and_retirement(ctx: Context) -> None:
    import dataclasses
    import datetime as dt

    from pydantic import SecretStr

    from gitward.services.managed_ca import create_managed_ca, retire_ca

    # PostgreSQL deployments must be given the secret that seals managed CA keys.
    ctx = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"ca_secret": SecretStr("s" * 32)})
    )
    orgs.create_org(ctx, "acme")
    uploaded = authorities.add_ca(ctx, CA, org="acme")
    managed = create_managed_ca(ctx, org="acme")
    retire_ca(ctx, uploaded.fingerprint, ctx.now() + dt.timedelta(days=7))
    listed = {c.fingerprint: (c.managed, c.retired_at) for c in authorities.list_cas(ctx)}
    assert listed == {
        uploaded.fingerprint: (False, ctx.now() + dt.timedelta(days=7)),
        managed.fingerprint: (True, None),
    }
