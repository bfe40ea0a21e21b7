"""`gitward user set-password` and `gitward user invite` (issue 13)."""

from __future__ import annotations

import pytest

from gitward.services import signin
from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.cli.conftest import Gitward
from tests.web.conftest import use_cheap_argon2


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_argon2(monkeypatch)


def _ctx(gitward: Gitward) -> Context:
    return open_context(
        Settings(
            data_dir=gitward.data_dir, database_url=gitward.database_url, hostname="git.example.com"
        )
    )


def test_ok_set_password_then_sign_in(gitward: Gitward) -> None:
    gitward.ok("user", "create", "alice")
    done = gitward.ok(
        "user", "set-password", "alice", "--password-stdin", stdin=b"a good long password\n"
    )
    assert done.out.strip() == "set the password of alice"
    ctx = _ctx(gitward)
    assert (
        signin.sign_in_password(ctx, "alice", "a good long password", peer="t").actor.username
        == "alice"
    )
    with pytest.raises(signin.SignInRefused):
        signin.sign_in_password(ctx, "alice", "a good long passwor", peer="t")


def test_fail_set_password_refusals_are_one_line(gitward: Gitward) -> None:
    gitward.ok("user", "create", "alice")
    nobody = gitward(
        "user", "set-password", "nobody", "--password-stdin", stdin=b"long enough pw\n"
    )
    assert nobody.code == 1 and nobody.err.strip() == "error: no user named 'nobody'"
    short = gitward("user", "set-password", "alice", "--password-stdin", stdin=b"short\n")
    assert short.code == 1 and short.err.strip() == "error: a password needs at least 10 characters"


def test_ok_invite_prints_a_one_time_link(gitward: Gitward) -> None:
    gitward.ok("user", "create", "bob")
    link = gitward.ok("user", "invite", "bob", "--web-url", "https://git.example.com").out.strip()
    assert link.startswith("https://git.example.com/invite/") and len(link.splitlines()) == 1
    ctx = _ctx(gitward)
    token = link.rsplit("/", 1)[1]
    assert signin.peek_link(ctx, token, signin.PURPOSE_INVITE).username == "bob"
    signin.accept_invite(ctx, token, "a good long password", "a good long password", peer=None)
    with pytest.raises(signin.SignInRefused):
        signin.accept_invite(ctx, token, "another password!", "another password!", peer=None)
    default = gitward.ok("user", "invite", "bob").out.strip()
    assert default.startswith("http://git.example.com:8080/invite/")
