"""A stock OpenSSH sshd serving git through git-shell, on a loopback port, for the
connector's end-to-end tests.

No account is created: sshd logs in the user running the tests (root here and in CI) with
``ForceCommand git-shell -c "$SSH_ORIGINAL_COMMAND"``, so only git's three services run,
exactly as on a git-shell account; repositories are named by absolute paths. Host keys
are made by ssh-keygen into the server's directory; ``rotate_host_key`` replaces them
(a host key swapped between two syncs).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
GIT_SHELL = shutil.which("git-shell") or "/usr/bin/git-shell"
USER = getpass.getuser()

needs_sshd = pytest.mark.skipif(
    not SSHD.exists() or not os.access(SSHD, os.X_OK),
    reason=f"{SSHD} (openssh-server) is not installed",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GitShellSshd:
    base: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    authorized: list[str] = field(default_factory=list)

    @property
    def host_key(self) -> Path:
        return self.base / "ssh_host_ed25519_key"

    @property
    def log_path(self) -> Path:
        return self.base / "sshd.log"

    def host_key_line(self) -> str:
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", f"{self.host_key}.pub"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()[1]

    def rotate_host_key(self) -> None:
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink(missing_ok=True)
        self._keygen()
        self.restart()

    def _keygen(self) -> None:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)],
            check=True,
            capture_output=True,
        )

    def authorize(self, public_line: str) -> None:
        self.authorized.append(public_line.strip())
        (self.base / "authorized_keys").write_text("\n".join(self.authorized) + "\n")

    def start(self) -> GitShellSshd:
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            self._keygen()
        (self.base / "authorized_keys").write_text("\n".join(self.authorized) + "\n")
        self.port = self.port or free_port()
        config = self.base / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.base / 'authorized_keys'}",
                    f"AllowUsers {USER}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitTTY no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "UseDNS no",
                    "AcceptEnv GIT_PROTOCOL",
                    "LogLevel VERBOSE",
                    f'ForceCommand {GIT_SHELL} -c "$SSH_ORIGINAL_COMMAND"',
                ]
            )
            + "\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run(
            [str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            pytest.skip(f"sshd cannot run here: {check.stderr.strip()}")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config), "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()[-1000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return self
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, 9)
                self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
