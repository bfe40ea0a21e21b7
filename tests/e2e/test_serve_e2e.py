"""`gitward serve` as a newcomer meets it: banner, host keys, clear start-up errors."""

from __future__ import annotations

import socket
import stat
import subprocess
from pathlib import Path

from tests.e2e.harness import GITWARD, Server, server_env


def test_ok_banner_shows_port_fingerprints_and_next_steps(server: Server) -> None:
    banner = next(server.data_dir.parent.glob("serve-*.out")).read_text()
    assert f"listening on 127.0.0.1:{server.port}" in banner
    for pub in sorted(server.data_dir.glob("ssh_host_*_key.pub")):
        fingerprint = subprocess.run(
            ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        assert fingerprint in banner
    assert "user create alice" in banner and "key add alice" in banner
    assert f"git clone ssh://git@gitward.test:{server.port}/acme/app.git" in banner


def test_ok_host_keys_are_private_and_kept(server: Server) -> None:
    keys = sorted(server.data_dir.glob("ssh_host_*_key"))
    assert [k.name for k in keys] == [
        "ssh_host_ecdsa_key",
        "ssh_host_ed25519_key",
        "ssh_host_rsa_key",
    ]
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)


def test_fail_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(GITWARD), "serve", "--data-dir", str(tmp_path / "d"), "--ssh-port", str(port)],
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: cannot listen for SSH on 127.0.0.1:{port}: address already in use "
        "(is another server running? choose another port with --ssh-port)"
    ]
