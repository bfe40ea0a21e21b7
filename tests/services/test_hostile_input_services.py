"""Hostile input reaching the SSH use-cases: refused with a reason in the log (issue 12)."""

from __future__ import annotations

import base64

from structlog.testing import capture_logs

from gitward.access.decision import Reason
from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
from gitward.logging import configure_logging
from gitward.services import ssh_access
from gitward.services.context import Context
from tests.conftest import VECTORS

COMPRESSED = (VECTORS / "hostile" / "ecdsa256_compressed.pub").read_text().split()[1]


def test_fail_compressed_point_key_is_denied_with_its_reason(ctx: Context) -> None:
    blob = base64.b64decode(COMPRESSED)
    configure_logging("info")  # an earlier CLI test may have left it at warning
    with capture_logs() as logs:
        for signed in (False, True):
            result = ssh_access.authenticate(
                ctx, ssh_username="git", key_blob=blob, peer="192.0.2.1", signed=signed
            )
            assert not result.accepted
            assert result.decision.reason is Reason.KEY_UNPARSABLE
            assert result.decision.detail == COMPRESSED_POINT_REFUSED
    denied = [e for e in logs if e["event"] == "ssh_auth"]
    assert denied and all(e["reason"] == "key.unparsable" for e in denied)
