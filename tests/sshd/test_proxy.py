"""ProxyGate on real loopback sockets, with a recording protocol in place of SSH."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest

from gitward import metrics
from gitward.proxy_protocol import V2_SIGNATURE
from gitward.sshd.limits import parse_networks
from gitward.sshd.proxy import ProxyGate
from tests.test_metrics import read

REFUSED = "gitward_ssh_connections_refused_total"

BANNER = b"SSH-2.0-OpenSSH_9.2p1\r\n"
V2_LOCAL = V2_SIGNATURE + b"\x20\x00\x00\x00"


def v2_tcp4(src: str, sport: int) -> bytes:
    block = bytes(map(int, src.split("."))) + bytes([127, 0, 0, 1]) + struct.pack("!HH", sport, 22)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(block)) + block


class Recorder(asyncio.Protocol):
    def __init__(self, client: tuple[str, int] | None, seen: asyncio.Queue[object]) -> None:
        self.client, self.seen = client, seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.seen.put_nowait(("client", self.client))
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"server first\r\n")

    def data_received(self, data: bytes) -> None:
        self.seen.put_nowait(("data", data))


def run(send_trusted: str, send: bytes, **kwargs: float) -> tuple[list[object], bytes]:
    return asyncio.run(exchange(send_trusted, send, **kwargs))


async def exchange(
    trusted: str, send: bytes, *, timeout: float = 2.0, wait: float = 1.0
) -> tuple[list[object], bytes]:
    """Connect through a gate, send ``send``; what the SSH side saw and what came back."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Queue[object] = asyncio.Queue()
    networks = parse_networks(trusted)
    server = await loop.create_server(
        lambda: ProxyGate(lambda c: Recorder(c, seen), networks, timeout, loop), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(send)
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        received = await asyncio.wait_for(reader.read(1024), wait)
    await asyncio.sleep(0.05)
    writer.close()
    server.close()
    events = []
    while not seen.empty():
        events.append(seen.get_nowait())
    return events, received


def test_ok_trusted_header_names_the_client_and_the_server_speaks_after_it() -> None:
    events, received = run("127.0.0.0/8", v2_tcp4("203.0.113.7", 5000) + BANNER)
    assert events[0] == ("client", ("203.0.113.7", 5000))
    assert events[1:] == [("data", BANNER)]  # sent with the header, passed on after it
    assert received == b"server first\r\n"


def test_ok_trusted_v1_header_in_pieces() -> None:
    events, _ = run("127.0.0.1/32", b"PROXY TCP4 198.51.100.2 127.0.0.1 4242 22\r\n")
    assert events == [("client", ("198.51.100.2", 4242))]


def test_ok_trusted_local_header_keeps_the_balancers_address() -> None:
    events, _ = run("127.0.0.0/8", V2_LOCAL + BANNER)
    assert events[:2] == [("client", None), ("data", BANNER)]


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(BANNER, id="fail/no-header"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n" + BANNER, id="fail/bad-port"),
        pytest.param(V2_SIGNATURE + b"\x21\x11\x00\x02ab", id="fail/v2-too-short"),
    ],
)
def test_fail_trusted_peer_without_a_valid_header_is_dropped(send: bytes) -> None:
    before = read(metrics.exposition().decode(), REFUSED, reason="proxy_header")
    events, received = run("127.0.0.0/8", send)
    assert events == []
    assert received == b""
    # An operator sees the drops on the refused-connections counter.
    assert read(metrics.exposition().decode(), REFUSED, reason="proxy_header") == before + 1


def test_fail_trusted_peer_that_stays_silent_is_dropped_after_the_timeout() -> None:
    events, received = run("127.0.0.0/8", b"PROXY TCP4", timeout=0.2, wait=2.0)
    assert events == [] and received == b""


def test_ok_untrusted_peer_is_ssh_at_once_with_its_own_address() -> None:
    events, received = run("10.0.0.0/8", BANNER)
    assert events[0] == ("client", None)
    assert received == b"server first\r\n"
