"""The ssh-agent client against a scripted fake agent: hostile and broken replies."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitward.agent_client import (
    SSH_AGENT_RSA_SHA2_512,
    AgentClient,
    AgentIdentity,
)
from gitward.ca.sign import AgentSigner, PrivateKeySigner, sign_certificate
from gitward.errors import ConfigurationError, KeyRejected
from gitward.keys.wire import WireReader, WireWriter
from tests.ca.test_sign import key, request


class FakeAgent:
    """Answers each connection with the next scripted raw reply; records the requests."""

    def __init__(self, path: Path, replies: list[bytes]) -> None:
        self.requests: list[bytes] = []
        self._replies = replies
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for reply in self._replies:
            conn, _ = self._server.accept()
            with conn:
                length = struct.unpack(">I", conn.recv(4))[0]
                data = b""
                while len(data) < length:
                    data += conn.recv(length - len(data))
                self.requests.append(data)
                conn.sendall(reply)

    def close(self) -> None:
        self._server.close()
        self._thread.join(5)


def framed(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[Path, list[FakeAgent]]]:
    agents: list[FakeAgent] = []
    yield tmp_path / "agent.sock", agents
    for agent in agents:
        agent.close()


def start(fake: tuple[Path, list[FakeAgent]], *replies: bytes) -> AgentClient:
    path, agents = fake
    agents.append(FakeAgent(path, list(replies)))
    return AgentClient(str(path), timeout=5)


def test_ok_identities(fake: tuple[Path, list[FakeAgent]]) -> None:
    blob = key("ed25519").public.blob
    body = WireWriter().byte(12).uint32(1).string(blob).string("ca@test").getvalue()
    client = start(fake, framed(body))
    assert client.identities() == [AgentIdentity(blob, "ca@test")]
    assert fake[1][0].requests == [b"\x0b"]


def test_ok_sign_request_asks_for_sha512(fake: tuple[Path, list[FakeAgent]]) -> None:
    signer = PrivateKeySigner(key("rsa"))
    # The fake cannot sign on the fly: sign the exact to-be-signed bytes ahead, via a nonce.
    req = request()
    expected = sign_certificate(req, signer)
    signature = WireReader(expected.blob[len(expected.signed_data) :]).string()
    client = start(fake, framed(WireWriter().byte(14).string(signature).getvalue()))
    cert = sign_certificate(req, AgentSigner(client, key("rsa").public.blob))
    assert cert.blob == expected.blob
    sent = WireReader(fake[1][0].requests[0][1:])
    assert sent.string() == key("rsa").public.blob
    assert sent.string() == expected.signed_data
    assert sent.uint32() == SSH_AGENT_RSA_SHA2_512


BROKEN: dict[str, bytes] = {
    "fail/failure": framed(b"\x05"),
    "fail/empty-reply": framed(b""),
    "fail/wrong-type": framed(b"\x06"),
    "fail/truncated-body": framed(b"\x0c\x00\x00\x00\x01"),
    "fail/trailing": framed(WireWriter().byte(12).uint32(0).getvalue() + b"x"),
    "fail/too-many-keys": framed(WireWriter().byte(12).uint32(10**6).getvalue()),
    "fail/huge-length": struct.pack(">I", 2**31),
    "fail/closed-mid-reply": struct.pack(">I", 100) + b"\x0c",
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_identities(fake: tuple[Path, list[FakeAgent]], name: str) -> None:
    client = start(fake, BROKEN[name])
    with pytest.raises(KeyRejected):
        client.identities()


def test_fail_sign_refused(fake: tuple[Path, list[FakeAgent]]) -> None:
    client = start(fake, framed(b"\x05"))
    with pytest.raises(KeyRejected, match="refused to sign"):
        client.sign(b"k", b"data")


def test_fail_no_agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(ConfigurationError, match="SSH_AUTH_SOCK"):
        AgentClient()
    with pytest.raises(ConfigurationError, match="cannot talk"):
        AgentClient(str(tmp_path / "missing")).identities()
