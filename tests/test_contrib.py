"""The deployment files in contrib/ parse with the tools that read them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitward.settings import Settings

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
GITWARD = Path(sys.executable).parent / "gitward"


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs HAProxy (Debian haproxy)")
def test_ok_haproxy_example_is_valid() -> None:
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(CONTRIB / "haproxy.cfg")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "send-proxy-v2" in (CONTRIB / "haproxy.cfg").read_text()


def unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's gitward (verify wants it to exist)."""
    text = (CONTRIB / "gitward.service").read_text()
    unit = tmp_path / "gitward.service"
    unit.write_text(text.replace("/opt/gitward/.venv/bin/gitward", str(GITWARD)))
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_ok_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = unit_here(tmp_path)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
    )
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert score is not None, security.stdout + security.stderr
    assert float(score.group(1)) <= 2.0, security.stdout  # "OK" is below 2.0


def test_ok_systemd_unit_waits_longer_than_a_graceful_stop() -> None:
    unit = (CONTRIB / "gitward.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE))
    assert settings["User"] == "gitward" and settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["KillMode"] == "mixed"
    field = Settings.model_fields.get("shutdown_grace_seconds")
    grace = field.default if field is not None else 30
    # The grace, then an abandoned git's 10 s to exit after EOF and 10 s after SIGTERM.
    assert int(settings["TimeoutStopSec"]) > grace + 20
