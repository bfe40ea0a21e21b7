"""Connections through a load balancer that speaks the PROXY protocol (v1 or v2).

With ``proxy_protocol_trusted`` set, every accepted connection starts in ``ProxyGate``:

- from a trusted address, the PROXY header is required; it must arrive whole within
  ``proxy_protocol_timeout`` seconds, before anything else. Its source address then stands
  for the peer everywhere (``source-address`` checks, startup limits, penalties, audit rows,
  logs): the gate hands the transport to a new SSH connection that carries it. A v2 LOCAL
  header (the balancer's own health check) or v1 ``UNKNOWN`` keeps the balancer's address.
  No header, a malformed one, or a timeout drops the connection (logged; the balancer's
  address is never penalised: trusted addresses are exempt from penalties and per-source
  limits).
- from any other address, the SSH connection starts at once; should its first bytes be a
  PROXY header, ``GitwardConnection`` drops it (and logs it), so that a client cannot choose
  the address it is judged by.

The SSH server speaks first, but only once the header has been read: the balancer sends the
header as soon as it connects, and the client's banner after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from gitward import metrics
from gitward.proxy_protocol import MAX_HEADER, ProxyProtocolError, parse
from gitward.sshd.limits import Network, contains

log = structlog.get_logger("gitward.sshd")

# Builds the SSH connection for a client: its (address, port), or None for the peer itself.
ConnectionFactory = Callable[[tuple[str, int] | None], asyncio.Protocol]


class ProxyGate(asyncio.Protocol):
    """A connection's first protocol: reads the PROXY header from trusted peers."""

    def __init__(
        self,
        connect: ConnectionFactory,
        trusted: tuple[Network, ...],
        timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._connect = connect
        self._trusted = trusted
        self._timeout = timeout
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buffer = b""
        self._peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else ""
        if not contains(self._trusted, self._peer):
            self._hand_over(transport, None, b"")
            return
        self._transport = transport
        self._timer = self._loop.call_later(self._timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        self._buffer += data
        try:
            header = parse(self._buffer[:MAX_HEADER])
        except ProxyProtocolError as exc:
            self._drop("proxy_header_invalid", str(exc))
            return
        if header is None:
            return  # parse() refuses anything longer than MAX_HEADER that is still incomplete
        self._stop_timer()
        self._transport = None
        rest = self._buffer[header.length :]
        self._buffer = b""
        log.debug(
            "proxy_header",
            proxy=self._peer,
            peer=header.source[0] if header.source else self._peer,
            version=header.version,
            local=header.local,
        )
        self._hand_over(transport, header.source, rest)

    def eof_received(self) -> bool | None:
        self._drop("proxy_header_missing", "the connection closed before a PROXY header")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._transport = None

    def _hand_over(
        self, transport: asyncio.Transport, client: tuple[str, int] | None, rest: bytes
    ) -> None:
        connection = self._connect(client)
        transport.set_protocol(connection)
        connection.connection_made(transport)
        if rest and not transport.is_closing():
            connection.data_received(rest)

    def _timed_out(self) -> None:
        self._timer = None
        self._drop("proxy_header_missing", f"no PROXY header within {self._timeout:g} seconds")

    def _drop(self, event: str, cause: str) -> None:
        self._stop_timer()
        if self._transport is not None:
            log.warning(event, proxy=self._peer, cause=cause)
            metrics.connection_refused(metrics.REFUSED_PROXY_HEADER)
            self._transport.abort()
            self._transport = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
