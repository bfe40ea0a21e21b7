"""The connector's side in end-to-end tests: `gitward connector ...` as a user runs it (the
installed console script, in a child process, on its own data directory), and upstream
repositories made with real git."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gitward.cli.main import cli
from tests.e2e.harness import GITWARD, Run

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Ann Author",
    "GIT_AUTHOR_EMAIL": "ann@example.com",
    "GIT_COMMITTER_NAME": "Ann Author",
    "GIT_COMMITTER_EMAIL": "ann@example.com",
}


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, input=stdin, capture_output=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr.decode()}"
    return proc.stdout.decode()


@dataclass
class Connector:
    """``gitward connector ...`` on one data directory: in process through the same Click
    entry point (fast; git, ssh and ssh-keyscan are still real child processes), or, with
    ``subprocess=True``, the installed console script."""

    data_dir: Path
    env_extra: dict[str, str] | None = None
    subprocess: bool = False
    cwd: Path | None = None  # for the console script: where a relative data_dir starts

    def run(self, *args: str, timeout: float = 180) -> Run:
        argv = ["connector", *args, "--data-dir", str(self.data_dir)]
        if self.subprocess:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITWARD_")}
            env.update(self.env_extra or {})
            proc = subprocess.run(
                [str(GITWARD), *argv],
                capture_output=True,
                env=env,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
            )
            return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GITWARD_")}
        result = CliRunner().invoke(
            cli,
            argv,
            env={**cleared, **(self.env_extra or {})},
            prog_name="gitward",
            catch_exceptions=False,
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str) -> Run:
        result = self.run(*args)
        assert result.code == 0, f"connector {' '.join(args)}: {result.out}\n{result.err}"
        return result

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.code in (0, 1), result.err
        return json.loads(result.out)

    def failed(self, *args: str) -> Run:
        """A command that must exit 1 with exactly one `error:` line on stderr."""
        result = self.run(*args)
        assert result.code == 1, (result.code, result.out, result.err)
        errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.err
        return result

    def public_line(self) -> str:
        return self.ok("key", "show").out.splitlines()[0]


def make_upstream(path: Path, commits: list[str], *, branch: str = "main") -> Path:
    """A bare repository with one commit per message (each touching one file)."""
    git("init", "-q", "--bare", "-b", branch, str(path))
    git("config", "uploadpack.allowFilter", "true", cwd=path)
    work = path.parent / f"{path.name}.work"
    git("clone", "-q", str(path), str(work))
    for number, message in enumerate(commits):
        (work / f"file{number}.txt").write_text(f"{number}\n")
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return work


def fast_import_history(path: Path, commits: int, blob_bytes: int, *, key_every: int = 3) -> None:
    """``commits`` commits on main made with git fast-import, each adding one blob of
    ``blob_bytes`` incompressible bytes; every ``key_every``-th message mentions BIG-n."""
    git("init", "-q", "--bare", "-b", "main", str(path))
    git("config", "uploadpack.allowFilter", "true", cwd=path)
    stream = bytearray()
    for n in range(1, commits + 1):
        data = os.urandom(blob_bytes)
        message = (f"BIG-{n} change {n}" if n % key_every == 0 else f"change {n}").encode()
        stream += b"blob\nmark :%d\ndata %d\n%s\n" % (2 * n, len(data), data)
        stream += b"commit refs/heads/main\nmark :%d\n" % (2 * n + 1)
        stream += b"author Ann <ann@example.com> %d +0000\n" % (1700000000 + n)
        stream += b"committer Ann <ann@example.com> %d +0000\n" % (1700000000 + n)
        stream += b"data %d\n%s\n" % (len(message), message)
        if n > 1:
            stream += b"from :%d\n" % (2 * n - 1)
        stream += b"M 100644 :%d dir%d/file%d.bin\n\n" % (2 * n, n % 50, n)
    git("fast-import", "--quiet", cwd=path, stdin=bytes(stream))
