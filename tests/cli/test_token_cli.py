"""`gitward token create|list|revoke`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.issuing_helpers import IssuingGitward


@pytest.fixture
def gw(database_url: str, tmp_path: Path) -> IssuingGitward:
    return IssuingGitward(tmp_path / "data", database_url)


def test_ok_token_is_shown_once_and_listed_by_hint(gw: IssuingGitward) -> None:
    gw.ok("user", "create", "alice")
    made = gw.ok("token", "create", "alice", "--expires", "7d", "--title", "laptop")
    token = made.out.strip()
    assert re.fullmatch(r"gwp_[A-Za-z0-9_-]{43}", token)
    assert "not shown again" in made.err
    listed = gw.ok("token", "list", "alice", "--json").json()
    assert listed[0]["hint"] == token[:8] and listed[0]["scopes"] == ["cert:issue"]
    assert token not in gw.ok("token", "list", "alice").out
    assert listed[0]["title"] == "laptop"


def test_ok_json_and_scopes(gw: IssuingGitward) -> None:
    gw.ok("user", "create", "alice")
    made = gw.ok(
        "token",
        "create",
        "alice",
        "--scope",
        "cert:read",
        "--scope",
        "cert:issue",
        "--expires",
        "2099-01-01",
        "--json",
    ).json()
    assert made["token"].startswith("gwp_")
    assert made["scopes"] == ["cert:issue", "cert:read"]
    assert made["expires_at"].startswith("2099-01-01T00:00:00")


def test_ok_revoke(gw: IssuingGitward) -> None:
    gw.ok("user", "create", "alice")
    token_id = gw.ok("token", "create", "alice", "--json").json()["id"]
    assert "revoked token" in gw.ok("token", "revoke", str(token_id)).out
    assert gw.ok("token", "list", "alice", "--json").json()[0]["revoked_at"]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("fail/no_user", ("token", "create", "nobody"), "no user named"),
        (
            "fail/past_expiry",
            ("token", "create", "alice", "--expires", "2000-01-01"),
            "in the future",
        ),
        ("fail/bad_expiry", ("token", "create", "alice", "--expires", "soon"), "invalid expiry"),
        ("fail/no_token", ("token", "revoke", "99"), "no token with id 99"),
    ],
)
def test_fail_token_commands(
    gw: IssuingGitward, name: str, args: tuple[str, ...], message: str
) -> None:
    gw.ok("user", "create", "alice")
    assert message in gw.refused(*args), name


def test_fail_unknown_scope_is_a_usage_error(gw: IssuingGitward) -> None:
    gw.ok("user", "create", "alice")
    assert gw("token", "create", "alice", "--scope", "admin").code == 2


def test_ok_console_script_creates_a_token(gitward_process: object) -> None:
    from tests.cli.conftest import Gitward

    assert isinstance(gitward_process, Gitward)
    if gitward_process.database_url.startswith("postgresql"):
        pytest.skip("one backend is enough to check the installed entry point")
    gitward_process.ok("user", "create", "alice")
    out = gitward_process.ok("token", "create", "alice", "--json").json()
    assert out["token"].startswith("gwp_") and out["user"] == "alice"
    assert "--ssh-config" in gitward_process.ok("login", "--help").out
