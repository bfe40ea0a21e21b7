"""log_format = json: every line of standard error is one JSON object, structlog's and the
standard library's (asyncssh, uvicorn) alike, tracebacks included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_PROGRAM = textwrap.dedent(
    """
    import logging
    import structlog
    from gitward.logging import configure_logging

    configure_logging("info", json=%s)
    log = structlog.get_logger("gitward.test")
    log.info("ssh_auth", outcome="denied", reason="key.unknown", peer="192.0.2.7")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed", repository="app")
    logging.getLogger("asyncssh").info("chatter nobody needs")
    logging.getLogger("uvicorn.error").warning("port busy")
    """
)


def _run(json_mode: bool) -> str:
    run = subprocess.run(
        [sys.executable, "-c", _PROGRAM % json_mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return run.stderr


def test_ok_json_lines_carry_the_fields_and_the_traceback() -> None:
    lines = [json.loads(line) for line in _run(True).splitlines()]
    assert [e["event"] for e in lines] == ["ssh_auth", "crashed", "port busy"]
    auth, crashed, stdlib = lines
    assert auth == {
        "event": "ssh_auth",
        "outcome": "denied",
        "reason": "key.unknown",
        "peer": "192.0.2.7",
        "level": "info",
        "timestamp": auth["timestamp"],
    }
    assert auth["timestamp"].endswith("Z")
    assert crashed["level"] == "error" and "ValueError: boom" in crashed["exception"]
    assert (stdlib["level"], stdlib["logger"]) == ("warning", "uvicorn.error")


def test_ok_console_stays_for_people() -> None:
    text = _run(False)
    assert "ssh_auth" in text and "reason=key.unknown" in text
    assert "Traceback (most recent call last)" in text
    assert not text.lstrip().startswith("{")
