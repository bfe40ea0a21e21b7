"""The authentication and git command decisions' log lines: the audit event's fields,
written only once the event is committed (a rolled-back decision is not logged)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs as _capture_logs

from gitward.access.facts import UserKeyCredential
from gitward.keys.generate import generate_key
from gitward.services import accounts, orgs, repositories, ssh_access
from gitward.services.context import Context
from gitward.services.facts import user_facts
from gitward.store.db import Engine, Session, StoreUnavailable, transaction
from gitward.store.queries import accounts as account_queries
from gitward.store.queries import audit


@contextlib.contextmanager
def capture_logs() -> Iterator[list[dict[str, object]]]:
    """structlog's capture at every level: an earlier test (a CLI command) may have left
    logging configured at WARNING, which would drop these INFO lines before capture."""
    structlog.reset_defaults()
    with _capture_logs() as logs:
        yield logs


def _events(ctx: Context, action: str) -> list[dict[str, object]]:
    with transaction(ctx.engine) as session:
        return [
            {
                "action": e.action,
                "target": e.target,
                "actor": e.actor,
                "outcome": e.outcome,
                "peer": e.peer,
                **json.loads(e.detail),
            }
            for e in audit.recent_events(session, 100)
            if e.action == action
        ]


def test_ok_refused_key_is_one_line_with_the_audit_fields(ctx: Context) -> None:
    blob = generate_key("ed25519").public.blob
    with capture_logs() as logs:
        result = ssh_access.authenticate(
            ctx, ssh_username="git", key_blob=blob, peer="198.51.100.9", signed=False
        )
    assert not result.accepted
    lines = [e for e in logs if e["event"] == "ssh_auth"]
    [event] = _events(ctx, "ssh.auth")
    assert len(lines) == 1
    line = {k: v for k, v in lines[0].items() if k not in ("event", "log_level")}
    assert line == event
    assert event["reason"] == "key.unknown" and event["outcome"] == "denied"


def test_ok_git_command_line_has_the_audit_fields(ctx: Context) -> None:
    accounts.create_user(ctx, "ann")
    org = orgs.create_org(ctx, "logco")
    orgs.add_member(ctx, org.name, "ann")
    repositories.create_repo(ctx, "logco/app")
    with transaction(ctx.engine) as session:
        user = account_queries.user_by_name(session, "ann")
        assert user is not None
        facts = user_facts(user)
    with capture_logs() as logs:
        ssh_access.authorize_command(
            ctx,
            credential=UserKeyCredential(facts, key_fingerprint="SHA256:k"),
            ssh_username="git",
            command_line="git-receive-pack 'logco/app.git'",
            peer="198.51.100.10",
            who="ann",
            label="key SHA256:k of ann",
        )
    [line] = [e for e in logs if e["event"] == "git_command"]
    [event] = _events(ctx, "git-receive-pack")
    assert {k: line[k] for k in event} == event
    assert (line["outcome"], line["reason"]) == ("denied", "repo.write_denied")
    assert line["credential_kind"] == "key" and line["organization_id"] == org.id


def test_fail_a_decision_whose_commit_fails_is_neither_logged_nor_kept(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.contextmanager
    def commit_fails(engine: Engine) -> Iterator[Session]:
        with transaction(engine) as session:
            yield session
            raise StoreUnavailable("the database is not reachable", cause="commit failed")

    monkeypatch.setattr(ssh_access, "transaction", commit_fails)
    blob = generate_key("ed25519").public.blob
    with capture_logs() as logs:
        result = ssh_access.authenticate(
            ctx, ssh_username="git", key_blob=blob, peer="198.51.100.11", signed=True
        )
    assert not result.accepted and result.decision.reason.value == "internal_error"
    assert [e["event"] for e in logs] == ["auth_failed_closed"]
    monkeypatch.undo()
    assert _events(ctx, "ssh.auth") == []
