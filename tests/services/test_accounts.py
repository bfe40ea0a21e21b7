"""Users and keys through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitward.errors import AlreadyExists, InvalidInput, KeyRejected, NotFound
from gitward.services import accounts, orgs, repositories
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.queries import audit
from tests.conftest import VECTORS

ED25519 = (VECTORS / "upload" / "ed25519_key.pub").read_bytes()
ECDSA = (VECTORS / "upload" / "ecdsa256_key.pub").read_bytes()


def test_ok_create_rename_suspend_list(ctx: Context) -> None:
    created = accounts.create_user(ctx, "alice")
    renamed = accounts.rename_user(ctx, "alice", "alicia")
    assert (renamed.id, renamed.username, renamed.renamed_at) == (created.id, "alicia", ctx.now())
    assert accounts.set_suspended(ctx, "ALICIA", True).suspended
    assert [(u.username, u.suspended) for u in accounts.list_users(ctx)] == [("alicia", True)]


@pytest.mark.parametrize("name", ["-alice", "al--ice", "a" * 40, "al ice", "git", "org-12", ""])
def test_fail_invalid_or_reserved_names(ctx: Context, name: str) -> None:
    with pytest.raises(InvalidInput):
        accounts.create_user(ctx, name)
    assert accounts.list_users(ctx) == []


def test_fail_user_and_org_share_one_namespace(ctx: Context) -> None:
    orgs.create_org(ctx, "acme")
    with pytest.raises(AlreadyExists, match="the name 'ACME' is already taken"):
        accounts.create_user(ctx, "ACME")
    accounts.create_user(ctx, "bob")
    with pytest.raises(AlreadyExists):
        accounts.rename_user(ctx, "bob", "acme")
    assert [u.username for u in accounts.list_users(ctx)] == ["bob"]


def test_ok_rename_moves_repositories_on_disk(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    repositories.create_repo(ctx, "alice/app")
    accounts.rename_user(ctx, "alice", "alicia")
    repos_dir = ctx.settings.repos_dir
    assert (repos_dir / "alicia" / "app.git" / "HEAD").is_file()
    assert not (repos_dir / "alice").exists()
    assert repositories.clone_urls(ctx, "alicia/app") == ["git@git.example.com:alicia/app.git"]


def test_fail_rename_onto_existing_directory_changes_nothing(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    repositories.create_repo(ctx, "alice/app")
    (ctx.settings.repos_dir / "alicia").mkdir()  # left over by hand
    with pytest.raises(AlreadyExists, match="a directory already exists"):
        accounts.rename_user(ctx, "alice", "alicia")
    assert [u.username for u in accounts.list_users(ctx)] == ["alice"]
    assert (ctx.settings.repos_dir / "alice" / "app.git").is_dir()


def test_ok_keys_round_trip_with_title_from_comment(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    key = accounts.add_key(ctx, "alice", ED25519)
    second = accounts.add_key(ctx, "alice", ECDSA, title="work")
    assert key.title == "alice@laptop" and second.title == "work"
    assert [k.fingerprint for k in accounts.list_keys(ctx, "alice")] == [
        key.fingerprint,
        second.fingerprint,
    ]
    accounts.remove_key(ctx, "alice", key.fingerprint)
    assert [k.fingerprint for k in accounts.list_keys(ctx, "alice")] == [second.fingerprint]


def test_fail_key_in_use_anywhere_does_not_say_by_whom(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    accounts.create_user(ctx, "bob")
    accounts.add_key(ctx, "alice", ED25519)
    with pytest.raises(AlreadyExists) as info:
        accounts.add_key(ctx, "bob", ED25519)
    assert info.value.message == "key is already in use"
    assert "alice" not in info.value.message
    accounts.create_user(ctx, "carol")
    repositories.create_repo(ctx, "carol/site")
    with pytest.raises(AlreadyExists, match="key is already in use"):
        repositories.add_deploy_key(ctx, "carol/site", ED25519)
    assert accounts.list_keys(ctx, "bob") == []


def test_fail_remove_someone_elses_key_is_not_found(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    accounts.create_user(ctx, "bob")
    key = accounts.add_key(ctx, "alice", ED25519)
    with pytest.raises(NotFound, match="bob has no key"):
        accounts.remove_key(ctx, "bob", key.fingerprint)
    assert len(accounts.list_keys(ctx, "alice")) == 1


def test_fail_bad_key_changes_nothing(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    with pytest.raises(KeyRejected):
        accounts.add_key(ctx, "alice", (VECTORS / "upload" / "ed25519_key").read_bytes())
    assert accounts.list_keys(ctx, "alice") == []


def test_ok_every_change_is_audited(ctx: Context) -> None:
    accounts.create_user(ctx, "alice")
    key = accounts.add_key(ctx, "alice", ED25519)
    with transaction(ctx.engine) as session:
        events = [(e.actor, e.action, e.target) for e in audit.recent_events(session)]
        detail = audit.recent_events(session)[0].detail
    assert events == [("test", "key.add", "alice"), ("test", "user.create", "alice")]
    assert key.fingerprint in detail


def test_fail_unknown_user_is_not_found(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        accounts.add_key(ctx, "nobody", ED25519)
