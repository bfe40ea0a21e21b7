"""The SSH transport's safety net (issue 12): a fault of ours while authenticating or in a
session is a denial with its traceback in the log; the server keeps serving.

A real listener (``start_ssh_server``) in process, so that a service can be made to fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh
import pytest
from structlog.testing import capture_logs

from gitward.keys.api import export_private_key, export_public_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, repositories, ssh_access
from gitward.services.context import Context
from gitward.sshd.listener import start_ssh_server
from gitward.sshd.session import INTERNAL_ERROR
from tests.services.conftest import ctx  # noqa: F401  (the fixture, reused)


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("boom")


@pytest.fixture
def alice_key(ctx: Context) -> asyncssh.SSHKey:  # noqa: F811
    key = generate_key("ed25519")
    accounts.create_user(ctx, "alice")
    accounts.add_key(ctx, "alice", export_public_key(key))
    repositories.create_repo(ctx, "alice/app")
    return asyncssh.import_private_key(export_private_key(key, "openssh"))


def _run(ctx: Context, scenario: Callable[[int], Awaitable[Any]]) -> Any:  # noqa: F811
    async def main() -> Any:
        listener = await start_ssh_server(ctx, "127.0.0.1", 0)
        try:
            return await scenario(listener.port)
        finally:
            await listener.close()

    return asyncio.run(main())


async def _ls_remote(port: int, key: asyncssh.SSHKey) -> asyncssh.SSHCompletedProcess:
    async with asyncssh.connect(
        "127.0.0.1", port, username="git", client_keys=[key], known_hosts=None, config=None
    ) as conn:
        return await conn.run(
            "git-upload-pack 'alice/app.git'", input=b"0000", check=False, encoding=None
        )


def test_fail_a_crash_while_authenticating_is_a_denial_and_a_logged_traceback(
    ctx: Context,  # noqa: F811
    alice_key: asyncssh.SSHKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(port: int) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(ssh_access, "authenticate", _boom)
            with pytest.raises(asyncssh.PermissionDenied):
                await _ls_remote(port, alice_key)
        # The same server still serves: the next login works.
        result = await _ls_remote(port, alice_key)
        assert result.exit_status == 0, result.stderr

    with capture_logs() as logs:
        _run(ctx, scenario)
    crashes = [e for e in logs if e["event"] == "ssh_auth_crashed"]
    assert crashes and all(e["outcome"] == "denied" for e in crashes)
    assert isinstance(crashes[0]["exc_info"], RuntimeError)


def test_fail_a_crash_in_a_session_is_one_error_line_and_a_logged_traceback(
    ctx: Context,  # noqa: F811
    alice_key: asyncssh.SSHKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(port: int) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(ssh_access, "authorize_command", _boom)
            crashed = await _ls_remote(port, alice_key)
        assert crashed.exit_status == 1
        assert crashed.stderr == f"ERROR: {INTERNAL_ERROR}\n".encode()
        assert (await _ls_remote(port, alice_key)).exit_status == 0

    with capture_logs() as logs:
        _run(ctx, scenario)
    [crash] = [e for e in logs if e["event"] == "ssh_session_crashed"]
    assert crash["command"] == "git-upload-pack 'alice/app.git'"
    assert isinstance(crash["exc_info"], RuntimeError)
