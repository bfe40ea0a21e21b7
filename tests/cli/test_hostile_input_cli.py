"""Hostile input through the command line: one `error:` line and exit 1, never a traceback
(issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from gitward.cli.context import settings_options
from gitward.cli.main import cli
from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
from gitward.services import accounts
from tests.cli.conftest import Gitward
from tests.conftest import VECTORS

COMPRESSED = str(VECTORS / "hostile" / "ecdsa256_compressed.pub")


def test_fail_compressed_point_key_on_every_command(gitward: Gitward) -> None:
    gitward.ok("user", "create", "bob")
    gitward.ok("org", "create", "acme")
    gitward.ok("repo", "create", "acme/app")
    expected = "error: " + COMPRESSED_POINT_REFUSED
    assert gitward.refused("key", "add", "bob", COMPRESSED) == expected
    assert gitward.refused("ca", "add", "--org", "acme", COMPRESSED) == expected
    assert gitward.refused("deploy-key", "add", "acme/app", COMPRESSED) == expected
    assert gitward.ok("key", "list", "bob", "--json").json() == []


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom: the store said something unexpected")


def test_fail_an_unexpected_exception_is_one_line_and_the_traceback_is_logged(
    gitward: Gitward, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitward.ok("user", "list")  # makes the data directory
    monkeypatch.setattr(accounts, "create_user", _boom)
    line = gitward.refused("user", "create", "bob")
    assert line.startswith("error: internal error (RuntimeError), not a problem with your input")
    assert "boom" not in line  # the cause goes to the log, not the screen
    crash_log = gitward.data_dir / "log" / "cli-errors.log"
    assert line.endswith(f"the traceback is in {crash_log}")
    text = crash_log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text
    assert crash_log.stat().st_mode & 0o077 == 0


def test_fail_a_command_without_the_decorator_is_caught_by_the_root_group(
    gitward: Gitward, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitward.ok("user", "list")
    original = cli.get_command
    # A command that forgot @handle_errors: the root group's net still holds.
    bare = settings_options(click.Command("crash", callback=lambda: _boom()))
    monkeypatch.setattr(
        type(cli),
        "get_command",
        lambda self, ctx, name: bare if name == "crash" else original(ctx, name),
    )
    line = gitward.refused("crash")
    assert line.startswith("error: internal error (RuntimeError)")


def test_fail_poison_files_and_arguments(gitward: Gitward, tmp_path: Path) -> None:
    gitward.ok("user", "create", "bob")
    poison = {
        "random": os.urandom(4096),
        "nul": b"\x00" * 100,
        "not-utf8": b"\xff\xfe ssh-ed25519 \xc3\x28",
        "huge-line": b"ssh-ed25519 " + b"A" * 200_000,
    }
    for name, data in poison.items():
        path = tmp_path / name
        path.write_bytes(data)
        for args in (
            ("key", "add", "bob", str(path)),
            ("cert", "show", str(path)),
            ("krl", "import", str(path)),
        ):
            gitward.refused(*args)  # one error: line, exit 1, whatever the bytes
    gitward.refused("key", "add", "bob", str(tmp_path))  # a directory
    gitward.refused("user", "create", "\udcff")  # an argument that is not UTF-8
