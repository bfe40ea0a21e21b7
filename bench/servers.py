"""The two servers under test, on loopback ports, each in its own process group, and the
OpenSSH + git client that drives them."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs

GITWARD = Path(sys.executable).parent / "gitward"
SSHD = Path("/usr/sbin/sshd")
HOSTNAME = "bench.test"
SSHD_USER = "gwbench"  # a local account whose shell is git-shell
MAX_STARTUPS = "256:30:512"  # the same on both servers: 200 concurrent clones must fit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def _stop_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the server, then SIGKILL its process group and any descendant left."""
    if proc is None:
        return
    leftovers = procs.tree(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in leftovers[1:]:  # per-connection children may have left the group (setsid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@dataclass
class Server:
    name: str  # "openssh" or "gitward"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    user: str = "git"  # SSH user in URLs
    host_pubs: list[Path] = field(default_factory=list)
    # OpenSSH runs under bench.reaper: the root of its tree is not part of the server.
    helper_root: bool = False
    tally: Path | None = None  # bench.reaper's running split of reaped CPU time

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def resident_children(self) -> int:
        """Long-lived processes under the root that are not connections: bench.reaper's
        listener for OpenSSH, the workers of `gitward serve --workers N`."""
        return 1 if self.helper_root else 0

    def cpu(self) -> procs.Cpu:
        if not self.helper_root:
            return procs.cpu(self.pid)
        # Under bench.reaper. SSH: the live listener with everything it reaped itself (the
        # per-connection monitors and their pre-authentication children) plus the session
        # processes' own time; git: what those session processes reaped. The reaper tallies
        # the orphaned session processes split so; its cutime + cstime is their sum.
        listener = procs.cpu(self.listener_pid)
        own_ticks, git_ticks = 0, 0
        if self.tally is not None and self.tally.exists():
            own_ticks, git_ticks = (int(x) for x in self.tally.read_text().split())
        return procs.Cpu(
            listener.own + listener.children + own_ticks / procs.CLK_TCK,
            git_ticks / procs.CLK_TCK,
        )

    @property
    def listener_pid(self) -> int:
        children = [p for p in procs.tree(self.pid) if procs.parent_of(p) == self.pid]
        if not self.helper_root:
            return self.pid
        if not hasattr(self, "_listener"):
            self._listener = children[0]
        return self._listener

    def url(self, repo: str) -> str:
        return f"{self.user}@127.0.0.1:{repo}.git"  # scp form; the port is in GIT_SSH_COMMAND

    def known_hosts_lines(self) -> str:
        lines = []
        for pub in self.host_pubs:
            key_type, blob = pub.read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{self.port} {key_type} {blob}\n")
        return "".join(lines)

    def stop(self) -> None:
        _stop_group(self.process)
        self.process = None


@dataclass
class GitwardServer(Server):
    data_dir: Path = Path()
    env_extra: dict[str, str] = field(default_factory=dict)
    http_url: str | None = None
    # Another copy of Gitward's source to run instead of the installed one (bench/ab.py).
    source: Path | None = None
    log_path: Path = Path()

    @property
    def workers(self) -> int:
        return int(self.env_extra.get("GITWARD_WORKERS", "1"))

    @property
    def resident_children(self) -> int:
        return self.workers if self.workers > 1 else 0

    def cpu(self) -> procs.Cpu:
        """The supervisor's and every live worker's own time, and what each reaped (its
        git processes). A worker's time is lost if it dies and is reaped by the supervisor
        only in part; no measurement here kills one."""
        total = procs.cpu(self.pid)
        if self.workers == 1:
            return total
        for pid in procs.tree(self.pid)[1:]:
            if procs.parent_of(pid) == self.pid:
                try:
                    total = total + procs.cpu(pid)
                except OSError:
                    continue
        return total

    def _command(self) -> list[str]:
        if self.source is None:
            return [str(GITWARD)]
        code = "import sys; from gitward.cli.main import main; sys.argv[0] = 'gitward'; main()"
        return [sys.executable, "-c", code]

    def start(self) -> GitwardServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITWARD_")}
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        env.update(
            GITWARD_HOSTNAME=HOSTNAME,
            GITWARD_LOG_LEVEL="info",
            GITWARD_PENALTY_EXEMPT="127.0.0.0/8",
            GITWARD_MAX_STARTUPS=MAX_STARTUPS,
            # One process, as the phases were measured before `serve` defaulted to one per
            # core; the workers phase (bench/workers.py) sets it.
            GITWARD_WORKERS="1",
        )
        env.update(self.env_extra)
        out = self.data_dir.parent / f"{self.name}.out"
        self.log_path = self.data_dir.parent / f"{self.name}.log"
        with out.open("wb") as stdout, self.log_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    *self._command(),
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
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            banner = out.read_text()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
            if match:
                self.port = int(match.group(1))
                http = re.search(r"HTTP API +: (http://\S+)", banner)
                self.http_url = http.group(1) if http else None
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"gitward serve exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("gitward serve did not start")
        self.host_pubs = sorted(self.data_dir.glob("ssh_host_*_key.pub"))
        return self


def ensure_sshd_user(home: Path) -> None:
    """A local account for sshd: shell git-shell, home ``home``, usable for public keys
    (password field '*', not the locked '!': without PAM sshd refuses locked accounts)."""
    git_shell = shutil.which("git-shell") or "/usr/bin/git-shell"
    try:
        entry = pwd.getpwnam(SSHD_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                git_shell,
                SSHD_USER,
            ],
            check=True,
        )
    else:
        if entry.pw_dir != str(home) or entry.pw_shell != git_shell:
            subprocess.run(
                ["usermod", "--home", str(home), "--shell", git_shell, SSHD_USER], check=True
            )
    subprocess.run(["usermod", "-p", "*", SSHD_USER], check=True)


@dataclass
class OpenSSHServer(Server):
    """Debian's sshd in the foreground (-D -e), its own config and host keys; the account
    ``gwbench`` has git-shell as its shell and a home whose ``OWNER`` entries are symlinks
    to Gitward's repository directories, so both servers serve the very same repositories."""

    base: Path = Path()
    repos_dir: Path = Path()
    authorized_keys: list[Path] = field(default_factory=list)
    ca_pub: Path | None = None
    log_path: Path = Path()

    def start(self) -> OpenSSHServer:
        self.user = SSHD_USER
        self.helper_root = True
        base = self.base
        base.mkdir(parents=True, exist_ok=True)
        home = base / "home"
        home.mkdir(exist_ok=True)
        for p in (base, home):
            p.chmod(0o755)
        for owner in self.repos_dir.iterdir():
            link = home / owner.name
            if not link.is_symlink():
                link.symlink_to(owner)
        # The repositories belong to the user Gitward runs as; git refuses "dubious
        # ownership" unless the account trusts them.
        (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
        ensure_sshd_user(home)
        keys = []
        for kind in ("ed25519", "rsa"):
            key = base / f"ssh_host_{kind}_key"
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True
                )
            keys.append(key)
        self.host_pubs = [Path(f"{k}.pub") for k in keys]
        auth = base / "authorized_keys"
        auth.write_text("".join(p.read_text() for p in self.authorized_keys))
        auth.chmod(0o644)
        self.port = free_port()
        config = base / "sshd_config"
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            *(f"HostKey {k}" for k in keys),
            f"PidFile {base / 'sshd.pid'}",
            f"AuthorizedKeysFile {auth}",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"AllowUsers {SSHD_USER}",
            f"MaxStartups {MAX_STARTUPS}",
            "MaxAuthTries 6",
            "AcceptEnv GIT_PROTOCOL",
            "PermitTTY no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PrintMotd no",
            "UseDNS no",
        ]
        if self.ca_pub is not None:
            lines.append(f"TrustedUserCAKeys {self.ca_pub}")
        config.write_text("\n".join(lines) + "\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.log_path = base / "sshd.log"
        self.tally = base / "reaped-cpu"
        self.tally.unlink(missing_ok=True)
        with self.log_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.reaper", str(SSHD), "-D", "-e", "-f", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
                env={**os.environ, "GWBENCH_REAPER_TALLY": str(self.tally)},
            )
        _wait_port(self.port, self.process)
        return self


@dataclass
class Client:
    """OpenSSH + git with one identity (a key, optionally with its certificate)."""

    home: Path
    key: Path
    cert: Path | None = None
    ciphers: str | None = None

    def ssh_argv(self, server: Server) -> list[str]:
        known = self.home / "known_hosts"
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
            str(server.port),
        ]
        if self.cert is not None:
            argv += ["-o", f"CertificateFile={self.cert}"]
        if self.ciphers:
            argv += ["-o", f"Ciphers={self.ciphers}"]
        return argv

    def env(self, server: Server) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_SSH_COMMAND": " ".join(f"'{a}'" for a in self.ssh_argv(server)),
            "GIT_TERMINAL_PROMPT": "0",
        }

    def git(
        self, server: Server, *args: str, timeout: float = 600
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", *args],
            env=self.env(server),
            cwd=self.home,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def popen_git(self, server: Server, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["git", *args],
            env=self.env(server),
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )

    def negotiated_cipher(self, server: Server) -> str:
        """What `ssh -v` reports for server->client (the direction a clone's data takes)."""
        argv = self.ssh_argv(server)
        argv[argv.index("LogLevel=ERROR")] = "LogLevel=DEBUG1"
        proc = subprocess.run(
            [*argv, f"{server.user}@127.0.0.1", "git-upload-pack", "'acme/small.git'"],
            capture_output=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
            env=self.env(server),
        )
        found = re.search(rb"kex: server->client cipher: (\S+)", proc.stderr)
        kex = re.search(rb"kex: algorithm: (\S+)", proc.stderr)
        cipher = found.group(1).decode() if found else "?"
        return f"{cipher} (kex {kex.group(1).decode() if kex else '?'})"
