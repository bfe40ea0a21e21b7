"""parse_git_command: the SSH exec line -> (service, OWNER/NAME), and force-command matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitward.errors import InvalidInput, NotFound
from gitward.git.commands import (
    GitCommand,
    InvalidCommand,
    RepositoryNotFound,
    force_command_allows,
    parse_git_command,
)


def sq_quote(text: str) -> str:
    """git's sq_quote_buf, to check we undo exactly what git does."""
    return "'" + text.replace("'", "'\\''").replace("!", "'\\!'") + "'"


OK = {
    "ok/upload-pack-quoted": ("git-upload-pack 'acme/app.git'", "git-upload-pack", "acme", "app"),
    "ok/upload-pack-leading-slash": (
        "git-upload-pack '/acme/app.git'",
        "git-upload-pack",
        "acme",
        "app",
    ),
    "ok/no-dot-git": ("git-upload-pack 'acme/app'", "git-upload-pack", "acme", "app"),
    "ok/unquoted": ("git-upload-pack acme/app.git", "git-upload-pack", "acme", "app"),
    "ok/unquoted-leading-slash": ("git-receive-pack /acme/app", "git-receive-pack", "acme", "app"),
    "ok/receive-pack": ("git-receive-pack 'acme/app.git'", "git-receive-pack", "acme", "app"),
    "ok/upload-archive": ("git-upload-archive 'acme/app.git'", "git-upload-archive", "acme", "app"),
    "ok/git-shell-space-form": ("git upload-pack 'acme/app.git'", "git-upload-pack", "acme", "app"),
    "ok/git-shell-receive": ("git receive-pack 'acme/app'", "git-receive-pack", "acme", "app"),
    "ok/name-with-dots": ("git-upload-pack 'acme/my.app.git'", "git-upload-pack", "acme", "my.app"),
    "ok/name-double-git": (
        "git-upload-pack 'acme/app.git.git'",
        "git-upload-pack",
        "acme",
        "app.git",
    ),
    "ok/name-with-dash-underscore": (
        "git-upload-pack 'ac-me_1/app-2_x'",
        "git-upload-pack",
        "ac-me_1",
        "app-2_x",
    ),
    "ok/name-inner-double-dot": ("git-upload-pack 'acme/a..b'", "git-upload-pack", "acme", "a..b"),
    "ok/case-kept": ("git-upload-pack 'Acme/App.git'", "git-upload-pack", "Acme", "App"),
    "ok/underscore-first": ("git-upload-pack '_acme/_app'", "git-upload-pack", "_acme", "_app"),
}


@pytest.mark.parametrize(("line", "service", "owner", "name"), OK.values(), ids=OK.keys())
def test_ok(line: str, service: str, owner: str, name: str) -> None:
    command = parse_git_command(line)
    assert (command.service, command.owner, command.name) == (service, owner, name)
    assert command.repo_path == f"{owner}/{name}"


def test_operation() -> None:
    assert parse_git_command("git-upload-pack 'a/b'").operation == "read"
    assert parse_git_command("git-upload-archive 'a/b'").operation == "read"
    assert parse_git_command("git-receive-pack 'a/b'").operation == "write"


INVALID_COMMAND = {
    "fail/empty": "",
    "fail/service-only": "git-upload-pack",
    "fail/service-and-space": "git-upload-pack ",
    "fail/unknown-service": "git-foo 'acme/app'",
    "fail/shell": "sh -c 'id'",
    "fail/git-alone": "git",
    "fail/git-unknown-sub": "git log 'acme/app'",
    "fail/git-dash-form-after-git": "git git-upload-pack 'acme/app'",
    "fail/uppercase-service": "GIT-UPLOAD-PACK 'acme/app'",
    "fail/two-spaces": "git-upload-pack  'acme/app'",
    "fail/tab": "git-upload-pack\t'acme/app'",
    "fail/extra-argument": "git-upload-pack 'acme/app' 'other/repo'",
    "fail/extra-unquoted-argument": "git-upload-pack acme/app --upload-pack=x",
    "fail/trailing-space": "git-upload-pack 'acme/app' ",
    "fail/trailing-text": "git-upload-pack 'acme/app'x",
    "fail/unterminated-quote": "git-upload-pack 'acme/app",
    "fail/double-quotes": 'git-upload-pack "acme/app"',
    "fail/semicolon": "git-upload-pack acme/app;id",
    "fail/semicolon-after-quote": "git-upload-pack 'acme/app';id",
    "fail/backticks": "git-upload-pack `id`/app",
    "fail/dollar": "git-upload-pack $HOME/app",
    "fail/pipe": "git-upload-pack 'acme/app'|id",
    "fail/ampersand": "git-upload-pack acme/app&",
    "fail/redirect": "git-upload-pack acme/app>x",
    "fail/glob": "git-upload-pack acme/*",
    "fail/tilde-unquoted": "git-upload-pack ~acme/app",
    "fail/backslash-unquoted": "git-upload-pack acme\\/app",
    "fail/newline": "git-upload-pack 'acme/app'\nid",
    "fail/newline-in-quotes": "git-upload-pack 'acme/app\n'",
    "fail/nul": "git-upload-pack 'acme/app\x00'",
    "fail/carriage-return": "git-upload-pack 'acme/app'\r",
    "fail/del": "git-upload-pack 'acme/app\x7f'",
    "fail/bad-escape": "git-upload-pack 'acme'\\x'app'",
    "fail/too-long": "git-upload-pack '" + "a" * 2000 + "/b'",
    "fail/unquoted-space-in-path": "git-upload-pack acme/my app",
    "fail/empty-unquoted": "git-upload-pack ''x",
    # git writes only \' and \! between quoted parts, never other text
    "fail/quote-split-in-middle": "git-upload-pack 'acme'/'app'",
}


@pytest.mark.parametrize("line", INVALID_COMMAND.values(), ids=INVALID_COMMAND.keys())
def test_invalid_command(line: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        parse_git_command(line)
    assert info.value.message == "invalid command"
    assert isinstance(info.value, InvalidInput)


NOT_FOUND = {
    "fail/one-component": "git-upload-pack 'app.git'",
    "fail/three-components": "git-upload-pack 'acme/group/app.git'",
    "fail/empty-path": "git-upload-pack ''",
    "fail/slash-only": "git-upload-pack '/'",
    "fail/double-leading-slash": "git-upload-pack '//acme/app'",
    "fail/empty-owner": "git-upload-pack '/app'",
    "fail/empty-name": "git-upload-pack 'acme/'",
    "fail/trailing-slash": "git-upload-pack 'acme/app/'",
    "fail/double-slash": "git-upload-pack 'acme//app'",
    "fail/dot-dot-owner": "git-upload-pack '../app'",
    "fail/dot-dot-name": "git-upload-pack 'acme/..'",
    "fail/dot-dot-escape": "git-upload-pack '/../../etc/passwd'",
    "fail/dot-owner": "git-upload-pack './app'",
    "fail/dot-name": "git-upload-pack 'acme/.'",
    "fail/dot-git-only": "git-upload-pack 'acme/.git'",
    "fail/hidden-name": "git-upload-pack 'acme/.app'",
    "fail/leading-dash-owner": "git-upload-pack '-acme/app'",
    "fail/leading-dash-name": "git-upload-pack 'acme/--upload-pack=id'",
    "fail/option-looking": "git-upload-pack '--help/x'",
    "fail/tilde": "git-upload-pack '~acme/app'",
    "fail/space-inside-quotes": "git-upload-pack 'acme/my app'",
    "fail/quote-inside-name": "git-upload-pack " + sq_quote("acme/it's"),
    "fail/bang-inside-name": "git-upload-pack " + sq_quote("acme/wow!"),
    "fail/shell-inside-quotes": "git-upload-pack 'acme/$(id)'",
    "fail/non-ascii": "git-upload-pack 'acme/café'",
    "fail/backslash": "git-upload-pack 'acme\\app'",
    "fail/owner-too-long": "git-upload-pack '" + "a" * 101 + "/app'",
    "fail/name-too-long": "git-upload-pack 'acme/" + "a" * 101 + "'",
    "fail/colon": "git-upload-pack 'host:acme/app'",
    "fail/unquoted-three": "git-upload-pack a/b/c",
    "fail/unquoted-dot-dot": "git-upload-pack ../x",
}


@pytest.mark.parametrize("line", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_repository_not_found(line: str) -> None:
    with pytest.raises(RepositoryNotFound) as info:
        parse_git_command(line)
    assert info.value.message == "Repository not found."
    assert isinstance(info.value, NotFound)


def test_git_quoting_round_trip() -> None:
    # Whatever git quotes, we unquote to the same text (and then judge the path).
    for path in ["acme/app.git", "/acme/app", "a/b"]:
        assert parse_git_command("git-upload-pack " + sq_quote(path)).repo_path in (
            "acme/app",
            "a/b",
        )


@given(st.text(max_size=120))
def test_fuzz_only_typed_errors(line: str) -> None:
    try:
        command = parse_git_command(line)
    except (InvalidCommand, RepositoryNotFound):
        return
    # Anything accepted is a clean OWNER/NAME with no way to escape or inject.
    for part in (command.owner, command.name):
        assert part and part[0] not in "-." and part != ".."
        assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in part)


@given(st.text(alphabet="ab/.'\\! -_", max_size=30))
def test_fuzz_quote_paths(path: str) -> None:
    try:
        command = parse_git_command("git-upload-pack " + sq_quote(path))
    except (InvalidCommand, RepositoryNotFound) as exc:
        # git's own quoting never yields a malformed command, only a bad path
        assert isinstance(exc, RepositoryNotFound)
        return
    stripped = path[1:] if path.startswith("/") else path
    owner, name = stripped.split("/")
    assert command.owner == owner
    assert name in (command.name, command.name + ".git")


FORCE = {
    "ok/identical": ("git-upload-pack 'acme/app.git'", "git-upload-pack 'acme/app.git'", True),
    "ok/other-quoting": ("git-upload-pack acme/app", "git-upload-pack '/acme/app.git'", True),
    "ok/git-shell-form": ("git upload-pack 'acme/app'", "git-upload-pack 'acme/app.git'", True),
    "fail/other-service": ("git-upload-pack 'acme/app'", "git-receive-pack 'acme/app'", False),
    "fail/archive-vs-upload": (
        "git-upload-archive 'acme/app'",
        "git-upload-pack 'acme/app'",
        False,
    ),
    "fail/other-repo": ("git-upload-pack 'acme/app'", "git-upload-pack 'acme/app2'", False),
    "fail/other-owner": ("git-upload-pack 'acme/app'", "git-upload-pack 'evil/app'", False),
    "fail/case-differs": ("git-upload-pack 'acme/app'", "git-upload-pack 'ACME/app'", False),
    "fail/forced-not-git": ("/bin/sh", "git-upload-pack 'acme/app'", False),
    "fail/forced-empty": ("", "git-upload-pack 'acme/app'", False),
    "fail/forced-bad-path": ("git-upload-pack '../x'", "git-upload-pack 'acme/app'", False),
}


@pytest.mark.parametrize(("forced", "requested", "allowed"), FORCE.values(), ids=FORCE.keys())
def test_force_command_allows(forced: str, requested: str, allowed: bool) -> None:
    assert force_command_allows(forced, parse_git_command(requested)) is allowed


def test_git_command_is_frozen() -> None:
    command = GitCommand("git-upload-pack", "acme", "app")
    with pytest.raises(AttributeError):
        command.owner = "evil"  # type: ignore[misc]
