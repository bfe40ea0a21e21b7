"""CLI tests of the issuing service: a `gitward` runner that also carries the CA secret
(PostgreSQL needs it from the settings), and a service context on the same store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.cli.conftest import Gitward
from tests.services.issuing_world import PG_SECRET


@dataclass
class IssuingGitward(Gitward):
    def env(self) -> dict[str, str]:
        extra = {}
        if self.database_url.startswith("postgresql"):
            extra["GITWARD_CA_SECRET"] = PG_SECRET.get_secret_value()
        return {**super().env(), **extra}

    def settings(self, **overrides: object) -> Settings:
        secret = PG_SECRET if self.database_url.startswith("postgresql") else None
        values: dict[str, object] = {
            "data_dir": self.data_dir,
            "database_url": self.database_url,
            "hostname": "git.example.com",
            "ssh_port": 2222,
            "ca_secret": secret,
        }
        return Settings.model_validate({**values, **overrides})

    @contextlib.contextmanager
    def context(self) -> Iterator[Context]:
        ctx = open_context(self.settings())
        try:
            yield ctx
        finally:
            ctx.engine.dispose()

    def world(self) -> dict[str, str]:
        """alice (member of acme, which has a managed CA) and her token."""
        self.ok("user", "create", "alice")
        self.ok("org", "create", "acme")
        self.ok("org", "member", "add", "acme", "alice")
        ca = self.ok("ca", "create", "--org", "acme", "--json").json()
        token = self.ok("token", "create", "alice").out.strip()
        return {"ca": ca["fingerprint"], "ca_public_key": ca["public_key"], "token": token}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
