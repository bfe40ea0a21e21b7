"""Outbound SSH for the connector's git: the one place its ssh command line is built, and
``ssh-keyscan``. (Here, in ``git/``, because it is git's SSH transport: git runs this ssh
through GIT_SSH_COMMAND, and nothing else in Gitward dials out. The server side, asyncssh,
stays in ``sshd/``.)

Like dulwich's SSHVendor, every connection goes through ``SSHSession.command``, so no path
can forget an option:

* ``-F /dev/null``: no user or system ssh_config (a ``Host *`` block with ProxyCommand or
  StrictHostKeyChecking=no on the server must not steer the connector);
* ``StrictHostKeyChecking=yes`` with ``UserKnownHostsFile`` written from the pins and
  ``GlobalKnownHostsFile=/dev/null``: a host is reached only with a pinned key;
* ``IdentitiesOnly=yes``, ``IdentityAgent=none``, the connector's key files only, its
  certificate through ``CertificateFile``; ``BatchMode=yes`` (never a prompt);
* ``ConnectTimeout`` bounds the TCP connect *and* the SSH handshake; ServerAlive bounds a
  connection that goes silent later.

The private key on disk. ssh reads identities only from files (``-i``/IdentityFile), and a
private ssh-agent would need one process per session plus a socket to protect just the
same. So: a directory made with mode 0700 under ``DATA_DIR/connector/run`` (itself 0700),
the key written into it through ``O_CREAT|O_EXCL|O_NOFOLLOW`` with mode 0600 from creation
(never readable by others, not for an instant), its path — never its content — on ssh's
command line, and the directory removed when the session ends (``sweep_sessions`` removes
what a crash left).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gitward.errors import GitwardError

KEYSCAN_TYPES: Final = "ed25519,ecdsa,rsa"
_SESSION_PREFIX: Final = "ssh-"


class OutboundFailed(GitwardError):
    """ssh-keyscan (or the local ssh setup) failed."""


@dataclass(frozen=True)
class Identity:
    """A private key in OpenSSH format and, optionally, its certificate line."""

    private_openssh: bytes
    certificate: str | None = None

    def __repr__(self) -> str:  # never the key material
        return f"Identity(certificate={self.certificate is not None})"


@dataclass(frozen=True)
class SSHSession:
    directory: Path
    identity_files: tuple[Path, ...]
    certificate_files: tuple[Path, ...]
    known_hosts: Path
    connect_timeout: int

    def command(self) -> list[str]:
        """The ssh argv (git appends ``[-p PORT] [-o SendEnv=...] user@host command``)."""
        argv = [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "CheckHostIP=no",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
        ]
        for key in self.identity_files:
            argv += ["-o", f"IdentityFile={key}"]
        for cert in self.certificate_files:
            argv += ["-o", f"CertificateFile={cert}"]
        argv += [
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=4",
            "-o",
            "ControlMaster=no",
            "-o",
            "ControlPath=none",
            "-o",
            "ProxyCommand=none",
            "-o",
            "ForwardAgent=no",
            "-o",
            "ForwardX11=no",
            "-o",
            "ClearAllForwardings=yes",
            "-o",
            "PermitLocalCommand=no",
            "-o",
            "RequestTTY=no",
            "-o",
            "LogLevel=ERROR",
        ]
        return argv

    @property
    def git_ssh_command(self) -> str:
        """GIT_SSH_COMMAND (git runs it through sh, so each word is quoted)."""
        return " ".join(shlex.quote(a) for a in self.command())


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; an old one may be wider


def _write_secret(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def ssh_session(
    run_dir: Path,
    identities: Sequence[Identity],
    known_hosts_text: str,
    *,
    connect_timeout: int,
) -> Iterator[SSHSession]:
    """Key files and known_hosts for one batch of git commands, removed afterwards."""
    _private_dir(run_dir)
    directory = run_dir / f"{_SESSION_PREFIX}{secrets.token_hex(8)}"
    directory.mkdir(mode=0o700)
    try:
        os.chmod(directory, 0o700)
        keys, certs = [], []
        for number, identity in enumerate(identities):
            key = directory / f"id_{number}"
            _write_secret(key, identity.private_openssh)
            keys.append(key)
            if identity.certificate:
                cert = directory / f"id_{number}-cert.pub"
                cert.write_text(identity.certificate.strip() + "\n")
                certs.append(cert)
        known = directory / "known_hosts"
        known.write_text(known_hosts_text)
        yield SSHSession(directory, tuple(keys), tuple(certs), known, connect_timeout)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def sweep_sessions(run_dir: Path, older_than: float = 3600.0) -> int:
    """Remove session directories a crash left behind (they hold decrypted keys)."""
    if not run_dir.is_dir():
        return 0
    removed = 0
    now = time.time()
    for entry in run_dir.iterdir():
        if entry.name.startswith(_SESSION_PREFIX) and now - entry.lstat().st_mtime > older_than:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


@dataclass(frozen=True)
class KeyscanResult:
    output: bytes  # known_hosts lines as ssh-keyscan printed them
    error: str  # its stderr, for a failure's detail


def probe_tcp(host: str, port: int, *, timeout: float) -> str:
    """Why a TCP connection to host:port fails, in the words ssh would use ("" if it
    connects): ssh-keyscan prints nothing when a port is closed."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except TimeoutError:
        return f"ssh: connect to host {host} port {port}: Connection timed out"
    except socket.gaierror as exc:
        return f"ssh: Could not resolve hostname {host}: {exc.strerror or exc}"
    except OSError as exc:
        return f"ssh: connect to host {host} port {port}: {exc.strerror or exc}"


def keyscan(host: str, port: int, *, timeout: int) -> KeyscanResult:
    """The host's keys (ssh-keyscan, every type); empty output when it could not connect.
    ``timeout`` bounds each connection (-T), and the whole run is bounded too."""
    argv = ["ssh-keyscan", "-T", str(timeout), "-p", str(port), "-t", KEYSCAN_TYPES, "--", host]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout * 4 + 5,
            check=False,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as exc:
        return KeyscanResult(b"", f"timed out after {timeout * 4 + 5} s ({exc.cmd[0]})")
    except OSError as exc:
        raise OutboundFailed(
            "ssh-keyscan cannot run: install the OpenSSH client", cause=str(exc)
        ) from exc
    return KeyscanResult(proc.stdout, proc.stderr.decode(errors="replace"))
