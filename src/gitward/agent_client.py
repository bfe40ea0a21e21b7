"""A tiny synchronous ssh-agent client (draft-miller-ssh-agent): list keys and sign.

Only what a CA needs to sign with a key it never sees: REQUEST_IDENTITIES and
SIGN_REQUEST. One connection per request, a timeout on every socket operation, and a
bound on the reply size, so a broken or hostile agent can neither hang us nor make us
allocate gigabytes.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import Final

from gitward.errors import ConfigurationError, KeyFormatError, KeyRejected
from gitward.keys.wire import WireReader, WireWriter

SSH_AGENT_FAILURE: Final = 5
SSH_AGENTC_REQUEST_IDENTITIES: Final = 11
SSH_AGENT_IDENTITIES_ANSWER: Final = 12
SSH_AGENTC_SIGN_REQUEST: Final = 13
SSH_AGENT_SIGN_RESPONSE: Final = 14
SSH_AGENT_RSA_SHA2_256: Final = 0x02
SSH_AGENT_RSA_SHA2_512: Final = 0x04

MAX_REPLY: Final = 256 * 1024  # OpenSSH's agent caps messages at 256 KiB too
_MAX_IDENTITIES: Final = 1024


@dataclass(frozen=True)
class AgentIdentity:
    blob: bytes  # the public key (or certificate) wire blob
    comment: str


class AgentClient:
    """Talks to the agent at ``path`` (default: ``$SSH_AUTH_SOCK``)."""

    def __init__(self, path: str | None = None, *, timeout: float = 30.0) -> None:
        resolved = path if path is not None else os.environ.get("SSH_AUTH_SOCK")
        if not resolved:
            raise ConfigurationError("no ssh-agent: SSH_AUTH_SOCK is not set")
        self.path = resolved
        self.timeout = timeout

    def identities(self) -> list[AgentIdentity]:
        reply = self._request(WireWriter().byte(SSH_AGENTC_REQUEST_IDENTITIES).getvalue())
        reader = self._expect(reply, SSH_AGENT_IDENTITIES_ANSWER, "list its keys")
        try:
            count = reader.uint32()
            if count > _MAX_IDENTITIES:
                raise KeyRejected("the ssh-agent sent a damaged reply", cause=f"{count} keys")
            found = [AgentIdentity(reader.string(), reader.text()) for _ in range(count)]
            reader.expect_end()
        except KeyFormatError as exc:
            raise KeyRejected("the ssh-agent sent a damaged reply", cause=exc.cause) from exc
        return found

    def sign(self, key_blob: bytes, data: bytes, flags: int = 0) -> bytes:
        """The SSH signature blob (string algorithm, string signature) over ``data``."""
        message = (
            WireWriter()
            .byte(SSH_AGENTC_SIGN_REQUEST)
            .string(key_blob)
            .string(data)
            .uint32(flags)
            .getvalue()
        )
        reader = self._expect(self._request(message), SSH_AGENT_SIGN_RESPONSE, "sign")
        try:
            signature = reader.string()
            reader.expect_end()
        except KeyFormatError as exc:
            raise KeyRejected("the ssh-agent sent a damaged reply", cause=exc.cause) from exc
        return signature

    # --- transport ------------------------------------------------------------------------

    def _expect(self, reply: bytes, wanted: int, doing: str) -> WireReader:
        if not reply:
            raise KeyRejected("the ssh-agent sent an empty reply")
        if reply[0] == SSH_AGENT_FAILURE:
            # The agent says no more than "failure": key not held, or use refused
            # (confirmation denied, locked agent).
            raise KeyRejected(f"the ssh-agent refused to {doing}: is the key loaded (ssh-add)?")
        if reply[0] != wanted:
            raise KeyRejected(
                "the ssh-agent sent an unexpected reply", cause=f"message type {reply[0]}"
            )
        return WireReader(reply[1:], what="ssh-agent reply")

    def _request(self, message: bytes) -> bytes:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(struct.pack(">I", len(message)) + message)
                length = struct.unpack(">I", _recv_exact(sock, 4))[0]
                if length > MAX_REPLY:
                    raise KeyRejected("the ssh-agent reply is too large", cause=f"{length} bytes")
                return _recv_exact(sock, length)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot talk to the ssh-agent at {self.path}: {exc.strerror or exc}",
                cause=repr(exc),
            ) from exc


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise KeyRejected("the ssh-agent closed the connection mid-reply")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
