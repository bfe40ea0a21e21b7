"""The supervisor of `serve --workers N`: reserving ports the workers share, and the
settings it hands them. (The processes themselves: tests/e2e/test_workers_e2e.py.)"""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from gitward.cli.supervisor import reserve_port, settings_payload
from gitward.errors import ConfigurationError
from gitward.settings import Settings


def test_ok_a_reserved_port_takes_listening_workers_but_no_other_server() -> None:
    reserved = reserve_port("127.0.0.1", 0, "SSH", "--ssh-port")
    port = reserved.getsockname()[1]
    worker = socket.socket()
    try:
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind(("127.0.0.1", port))
        worker.listen()
        # Another `serve` on the same port is refused, though every socket there allows reuse.
        with pytest.raises(ConfigurationError, match=f"cannot listen for SSH on 127.0.0.1:{port}"):
            reserve_port("127.0.0.1", port, "SSH", "--ssh-port")
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the worker's listening socket takes it, not the reservation
    finally:
        worker.close()
        reserved.close()


def test_ok_workers_get_every_setting_with_the_secret_in_clear() -> None:
    settings = Settings(ca_secret=SecretStr("s3cret"), workers=3, shutdown_grace_seconds=7)
    again = Settings.model_validate(settings_payload(settings))
    assert again.ca_secret is not None and again.ca_secret.get_secret_value() == "s3cret"
    assert again.workers == 3 and again.shutdown_grace_seconds == 7
    assert again == settings
