"""Real `gitward serve` processes and real OpenSSH/git clients, for end-to-end tests.

Keys and certificates are made by ssh-keygen; host keys are pinned (StrictHostKeyChecking
yes, with a known_hosts file built from the server's own .pub files); git runs with no
user or system configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GITWARD = Path(sys.executable).parent / "gitward"
HOSTNAME = "gitward.test"

needs_openssh = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("ssh", "ssh-keygen", "git")),
    reason="end-to-end tests need the OpenSSH client, ssh-keygen and git",
)


def server_env(database_url: str | None = None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITWARD_")}
    env.update({"GITWARD_HOSTNAME": HOSTNAME, "GITWARD_LOG_LEVEL": "info"})
    # Tests fail on purpose, many times, from 127.0.0.1: exempt it unless a test says otherwise.
    env["GITWARD_PENALTY_EXEMPT"] = "127.0.0.0/8"
    # One process unless a test asks for more (`serve` defaults to one per core).
    env["GITWARD_WORKERS"] = "1"
    if database_url:
        env["GITWARD_DATABASE_URL"] = database_url
    env.update({f"GITWARD_{k.upper()}": v for k, v in settings.items()})
    return env


# Every server a test started, so that the log check can read what each printed.
STARTED: list[Server] = []
# What the server must never print, even when the test passed.
_LOG_PROBLEM = re.compile(r"^Traceback \(most recent call last\)|Exception in callback|"
                          r"\"Traceback \(most recent call last\)|"  # in a JSON log line
                          r"exception was never retrieved|was never awaited", re.MULTILINE)


def log_problems(text: str) -> list[str]:
    """The tracebacks and asyncio complaints in a piece of server log, with context."""
    return [text[m.start() : m.start() + 1500] for m in _LOG_PROBLEM.finditer(text)]


@dataclass
class Server:
    """A `gitward serve` child process on a free loopback port."""

    data_dir: Path
    env: dict[str, str]
    port: int = 0
    http_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"serve-{id(self)}.log"

    def start(self, timeout: float = 30.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        STARTED.append(self)
        out = self.data_dir.parent / f"serve-{id(self)}.out"
        with out.open("wb") as stdout, self.log_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [
                    str(GITWARD),
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--ssh-port",
                    "0",
                    "--http-port",
                    "0",
                ],
                stdout=stdout,
                stderr=stderr,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            banner = out.read_text()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
            http = re.search(r"HTTP API +: (http://\S+)", banner)
            if match:
                self.port = int(match.group(1))
                self.http_url = http.group(1) if http else None
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gitward serve did not start:\n{self.log()}\n{out.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def known_hosts(self, path: Path) -> Path:
        lines = []
        for pub in sorted(self.data_dir.glob("ssh_host_*_key.pub")):
            key_type, blob = pub.read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{self.port} {key_type} {blob}\n")
        # Atomically: clients in other threads may be reading it right now.
        scratch = path.with_name(f"{path.name}.{threading.get_ident()}")
        scratch.write_text("".join(lines))
        os.replace(scratch, path)
        return path


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Client:
    """An OpenSSH + git user with one key (and optionally a certificate)."""

    server: Server
    home: Path
    key: Path
    cert: Path | None = None
    ssh_user: str = "git"
    extra_ssh: tuple[str, ...] = ()

    def ssh_argv(self) -> list[str]:
        known = self.server.known_hosts(self.home / "known_hosts")
        argv = [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"IdentityFile={self.key}",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.server.port),
        ]
        if self.cert is not None:
            argv += ["-o", f"CertificateFile={self.cert}"]
        return argv + list(self.extra_ssh)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_SSH_COMMAND": " ".join(f"'{a}'" for a in self.ssh_argv()),
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }

    def url(self, repo: str) -> str:
        return f"ssh://{self.ssh_user}@127.0.0.1:{self.server.port}/{repo}.git"

    def ssh(self, *command: str) -> Run:
        proc = subprocess.run(
            [*self.ssh_argv(), f"{self.ssh_user}@127.0.0.1", *command],
            capture_output=True,
            env=self.env(),
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Run(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def git(self, *args: str, cwd: Path | None = None) -> Run:
        proc = subprocess.run(
            ["git", *args],
            capture_output=True,
            env=self.env(),
            timeout=120,
            check=False,
            cwd=cwd or self.home,
            stdin=subprocess.DEVNULL,
        )
        return Run(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def clone(self, repo: str, dest: str | None = None) -> Run:
        target = self.home / (dest or repo.replace("/", "_"))
        shutil.rmtree(target, ignore_errors=True)
        return self.git("clone", "-q", self.url(repo), str(target))

    def push_new_commit(self, repo: str, name: str = "file.txt") -> Run:
        """Clone (or reuse) ``repo``, commit one file, push to main."""
        work = self.home / f"work_{repo.replace('/', '_')}"
        if not work.exists():
            cloned = self.git("clone", "-q", self.url(repo), str(work))
            if cloned.code != 0:
                return cloned
        (work / name).write_text(f"{name} {time.time_ns()}\n")
        self.git("add", name, cwd=work)
        self.git("commit", "-q", "-m", f"add {name}", cwd=work)
        return self.git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)


def keygen(path: Path, key_type: str = "ed25519", bits: int | None = None) -> Path:
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", path.name, "-f", str(path)]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True, capture_output=True)
    return path


def sign(ca: Path, key: Path, *options: str, identity: str = "test-cert") -> Path:
    """ssh-keygen -s CA -I ID OPTIONS KEY.pub; returns KEY-cert.pub."""
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", identity, *options, f"{key}.pub"],
        check=True,
        capture_output=True,
    )
    return Path(f"{key}-cert.pub")
