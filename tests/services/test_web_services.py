"""Services behind the web UI that differ by backend: the require-certificates preview (its
query and its index), where keys and CAs were last used, one-time links and sessions."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from gitward.access.facts import DeployKeyCredential, UserKeyCredential
from gitward.keys.api import export_public_key
from gitward.keys.generate import generate_key
from gitward.services import (
    accounts,
    authorities,
    org_settings,
    orgs,
    repositories,
    signin,
    ssh_access,
)
from gitward.services.actor import Actor
from gitward.services.context import Context
from gitward.services.facts import user_facts
from gitward.store.db import transaction
from gitward.store.queries import accounts as account_queries
from gitward.store.queries.audit import plain_key_users_query

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _actor(ctx: Context, name: str) -> Actor:
    with transaction(ctx.engine) as session:
        user = account_queries.user_by_name(session, name)
        assert user is not None
        return Actor.of(user)


def _git(ctx: Context, who: str, repo: str, *, deploy: bool = False, at: dt.datetime = NOW) -> None:
    """Run the SSH server's own authorization of one clone, at ``at``."""
    timed = dataclasses.replace(ctx, clock=lambda: at)
    with transaction(ctx.engine) as session:
        user = account_queries.user_by_name(session, who)
        assert user is not None
        facts = user_facts(user)
        repo_row = repositories.require_repo(session, repo)
        repo_id = repo_row.id
    credential = (
        DeployKeyCredential(repo_id, write=False, key_fingerprint="SHA256:d")
        if deploy
        else UserKeyCredential(facts, key_fingerprint="SHA256:k")
    )
    result = ssh_access.authorize_command(
        timed,
        credential=credential,
        ssh_username="git",
        command_line=f"git-upload-pack '{repo}.git'",
        peer="192.0.2.1",
        who=who,
    )
    assert result.decision.allowed, result.decision


@pytest.fixture
def world(ctx: Context) -> Context:
    for name in ("owner", "member", "old", "outsider", "other"):
        accounts.create_user(ctx, name)
    orgs.create_org(ctx, "acme")
    orgs.create_org(ctx, "beta")
    orgs.add_member(ctx, "acme", "owner", "owner")
    for name in ("member", "old"):
        orgs.add_member(ctx, "acme", name)
    orgs.add_member(ctx, "beta", "other")
    repositories.create_repo(ctx, "acme/app")
    repositories.create_repo(ctx, "beta/lib")
    repositories.grant(ctx, "acme/app", "outsider", "read")
    return ctx


def test_ok_preview_lists_exactly_the_recent_plain_key_users(world: Context) -> None:
    _git(world, "member", "acme/app", at=NOW - dt.timedelta(days=2))
    _git(world, "member", "acme/app", at=NOW - dt.timedelta(days=1))
    _git(world, "outsider", "acme/app", at=NOW - dt.timedelta(hours=3))
    _git(world, "old", "acme/app", at=NOW - dt.timedelta(days=31))  # too long ago
    _git(world, "other", "beta/lib")  # another organization
    _git(world, "owner", "acme/app", deploy=True)  # deploy keys are exempt
    found = org_settings.require_preview(world, _actor(world, "owner"), "acme")
    assert [(p.username, p.role, p.uses) for p in found] == [
        ("outsider", "collaborator", 1),
        ("member", "member", 2),
    ]
    assert found[1].last_used_at == NOW - dt.timedelta(days=1)
    with pytest.raises(Exception, match="no organization named"):
        org_settings.require_preview(world, _actor(world, "member"), "acme")


def test_ok_preview_query_uses_its_index(world: Context) -> None:
    query = plain_key_users_query(1, NOW)
    with world.engine.connect() as conn:
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN QUERY PLAN " + compiled)))
        else:
            # A handful of rows: PostgreSQL would scan; forbid that to see the index it has.
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN " + compiled)))
    assert "ix_audit_events_org_credential_at" in plan, plan


def test_ok_key_and_ca_remember_when_and_from_where(world: Context, tmp_path: Path) -> None:
    key = generate_key("ed25519")
    accounts.add_key(world, "member", export_public_key(key))
    blob = key.public.blob
    ssh_access.authenticate(
        world, ssh_username="git", key_blob=blob, peer="198.51.100.4", signed=True
    )
    ssh_access.authenticate(
        world, ssh_username="git", key_blob=blob, peer="198.51.100.5", signed=False
    )
    [view] = accounts.list_keys(world, "member")
    assert view.last_used_at == NOW and view.last_used_address == "198.51.100.4"

    import subprocess

    ca = tmp_path / "ca"
    user = tmp_path / "user"
    for path in (ca, user):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    authorities.add_ca(world, Path(f"{ca}.pub").read_bytes(), org="acme")
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(ca),
            "-I",
            "t",
            "-V",
            "20261121120000Z:20261122000000Z",
            "-O",
            "extension:login@git.example.com=member",
            f"{user}.pub",
        ],
        check=True,
    )
    cert = base64.b64decode(Path(f"{user}-cert.pub").read_text().split()[1])
    result = ssh_access.authenticate(
        world, ssh_username="git", key_blob=cert, peer="203.0.113.1", signed=True
    )
    assert result.accepted and result.credential is not None
    later = dataclasses.replace(world, clock=lambda: NOW + dt.timedelta(seconds=30))
    ssh_access.authenticate(
        later, ssh_username="git", key_blob=cert, peer="203.0.113.2", signed=True
    )
    [view_ca] = authorities.list_cas(world)
    # Written at most once a minute: the second login, 30 s later, did not touch the row.
    assert view_ca.last_used_at == NOW and view_ca.last_used_address == "203.0.113.1"
    much_later = dataclasses.replace(world, clock=lambda: NOW + dt.timedelta(seconds=61))
    ssh_access.authenticate(
        much_later, ssh_username="git", key_blob=cert, peer="203.0.113.3", signed=True
    )
    assert authorities.list_cas(world)[0].last_used_address == "203.0.113.3"


def test_fail_links_work_once_for_their_purpose_only(world: Context) -> None:
    url = signin.ssh_login_link(world, 1, peer="x", base_url="http://h")
    token = url.rsplit("/", 1)[1]
    with pytest.raises(signin.SignInRefused):
        signin.accept_invite(world, token, "a" * 12, "a" * 12, peer=None)  # wrong purpose
    assert signin.redeem_ssh_link(world, token, peer=None).actor.username == "owner"
    with pytest.raises(signin.SignInRefused, match="not valid"):
        signin.redeem_ssh_link(world, token, peer=None)


def test_ok_expired_sessions_are_refused_and_suspension_signs_out(world: Context) -> None:
    from gitward.services import passwords

    passwords.set_password(world, "member", "a long password")
    new = signin.sign_in_password(world, "member", "a long password", peer="p")
    assert signin.resolve_session(world, new.token) is not None
    later = dataclasses.replace(
        world, clock=lambda: NOW + dt.timedelta(seconds=world.settings.session_max_age_seconds)
    )
    assert signin.resolve_session(later, new.token) is None
    again = signin.sign_in_password(world, "member", "a long password", peer="p")
    accounts.set_suspended(world, "member", True)
    assert signin.resolve_session(world, again.token) is None
    with pytest.raises(signin.SignInRefused, match="suspended"):
        signin.sign_in_password(world, "member", "a long password", peer="p")
