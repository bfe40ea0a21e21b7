"""Hostile input through the command line: one `error:` line and exit 1, never a traceback
(issue 12)."""

from __future__ import annotations

from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
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
