from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitward.cli.main import cli

GITWARD = Path(sys.executable).parent / "gitward"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Gitward:
    """Runs `gitward` as a user would: the same Click entry point, in-process (fast) or, with
    ``subprocess=True``, the installed console script in a child process."""

    data_dir: Path
    database_url: str
    subprocess: bool = False

    def env(self) -> dict[str, str]:
        return {"GITWARD_DATABASE_URL": self.database_url, "GITWARD_HOSTNAME": "git.example.com"}

    def __call__(self, *args: str, stdin: bytes | None = None) -> Result:
        argv = [*args, "--data-dir", str(self.data_dir)]
        if self.subprocess:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITWARD_")}
            proc = subprocess.run(
                [str(GITWARD), *argv],
                input=stdin,
                capture_output=True,
                env={**env, **self.env()},
                timeout=60,
                check=False,
            )
            return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GITWARD_")}
        result = CliRunner().invoke(
            cli,
            argv,
            input=stdin,
            env={**cleared, **self.env()},
            prog_name="gitward",
            catch_exceptions=False,
        )
        return Result(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, stdin: bytes | None = None) -> Result:
        result = self(*args, stdin=stdin)
        assert result.code == 0, f"gitward {' '.join(args)}: {result.err}"
        return result

    def refused(self, *args: str) -> str:
        """Run a command that must fail with exit 1 and one `error:` line; return that line."""
        result = self(*args)
        assert result.code == 1, (result.code, result.out, result.err)
        lines = result.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.err
        return lines[0]


@pytest.fixture
def gitward(database_url: str, tmp_path: Path) -> Gitward:
    return Gitward(tmp_path / "data", database_url)


@pytest.fixture
def gitward_process(database_url: str, tmp_path: Path) -> Gitward:
    return Gitward(tmp_path / "data", database_url, subprocess=True)
