"""The connector's ssh command line and its key files: every option in one place, the key
readable by nobody else, its path (never its content) on the command line, gone after."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gitward.git.outbound import Identity, ssh_session, sweep_sessions
from gitward.keys import export_private_key, generate_key

KEY = export_private_key(generate_key("ed25519"), "openssh")


def test_ok_session_files_are_private_and_removed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with ssh_session(
        run,
        [Identity(KEY, "ssh-ed25519-cert-v01@openssh.com AAAA")],
        "[h]:2 ssh-ed25519 AAAA\n",
        connect_timeout=7,
    ) as session:
        assert stat.S_IMODE(run.stat().st_mode) == 0o700
        assert stat.S_IMODE(session.directory.stat().st_mode) == 0o700
        key = session.identity_files[0]
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_bytes() == KEY
        argv = session.command()
        assert all(KEY.decode() not in a and "PRIVATE" not in a for a in argv)
        options = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if "=" in a}
        assert options["StrictHostKeyChecking"] == "yes"
        assert options["UserKnownHostsFile"] == str(session.known_hosts)
        assert options["GlobalKnownHostsFile"] == "/dev/null"
        assert options["IdentitiesOnly"] == "yes" and options["IdentityAgent"] == "none"
        assert options["BatchMode"] == "yes" and options["ConnectTimeout"] == "7"
        assert options["CertificateFile"] == str(session.certificate_files[0])
        assert argv[1:3] == ["-F", "/dev/null"]
        assert session.known_hosts.read_text() == "[h]:2 ssh-ed25519 AAAA\n"
    assert not session.directory.exists()


def test_ok_sweep_removes_what_a_crash_left(tmp_path: Path) -> None:
    run = tmp_path / "run"
    stale = run / "ssh-0123456789abcdef"
    stale.mkdir(parents=True)
    (stale / "id_0").write_bytes(KEY)
    os.utime(stale, (0, 0))
    assert sweep_sessions(run) == 1 and not stale.exists()
