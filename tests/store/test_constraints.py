"""What the database itself guarantees, whatever code writes to it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from gitward.errors import AlreadyExists
from gitward.store.db import open_store, transaction
from gitward.store.models import AuditEvent, Organization, Repository, SSHKey, User
from gitward.store.queries import accounts

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _user(name: str) -> User:
    return User(username=name, created_at=NOW, suspended=False, site_admin=False)


def test_ok_datetimes_come_back_aware_utc(database_url: str) -> None:
    engine = open_store(database_url)
    with transaction(engine) as session:
        session.add(_user("alice"))
    with transaction(engine) as session:
        alice = accounts.user_by_name(session, "ALICE")
        assert alice is not None and alice.created_at == NOW
        assert alice.created_at.tzinfo is not None


def test_fail_usernames_unique_ignoring_case(database_url: str) -> None:
    engine = open_store(database_url)
    with transaction(engine) as session:
        session.add(_user("alice"))
    with pytest.raises(AlreadyExists), transaction(engine) as session:
        session.add(_user("Alice"))


def test_fail_fingerprint_unique_across_user_and_deploy_keys(database_url: str) -> None:
    engine = open_store(database_url)
    with transaction(engine) as session:
        alice = _user("alice")
        repo = Repository(owner_user=alice, name="app", created_at=NOW)
        session.add_all([alice, repo])
        session.flush()
        session.add(
            SSHKey(
                fingerprint="SHA256:x",
                key_type="ssh-ed25519",
                public_key="k",
                title="t",
                user_id=alice.id,
                read_only=True,
                created_at=NOW,
            )
        )
        user_id, repo_id = alice.id, repo.id
    with pytest.raises(AlreadyExists), transaction(engine) as session:
        session.add(
            SSHKey(
                fingerprint="SHA256:x",
                key_type="ssh-ed25519",
                public_key="k",
                title="t",
                repository_id=repo_id,
                read_only=True,
                created_at=NOW,
            )
        )
    with pytest.raises(AlreadyExists), transaction(engine) as session:
        # A key with two owners (or none) is refused by the one_owner check.
        session.add(
            SSHKey(
                fingerprint="SHA256:y",
                key_type="ssh-ed25519",
                public_key="k",
                title="t",
                user_id=user_id,
                repository_id=repo_id,
                read_only=True,
                created_at=NOW,
            )
        )


def test_fail_repository_needs_exactly_one_owner(database_url: str) -> None:
    engine = open_store(database_url)
    with pytest.raises(AlreadyExists), transaction(engine) as session:
        alice = _user("alice")
        org = Organization(name="acme", require_ssh_certificates=False, created_at=NOW)
        session.add(Repository(owner_user=alice, owner_organization=org, name="x", created_at=NOW))


def test_fail_audit_trail_is_append_only(database_url: str) -> None:
    engine = open_store(database_url)
    with transaction(engine) as session:
        session.add(
            AuditEvent(at=NOW, actor="cli", action="test", target="", outcome="ok", detail="{}")
        )
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["cli"]
