"""The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer's first bytes on a
connection, naming the client it relays. Sans-I/O: bytes in, a header or "need more" out.

    header = parse(buffer)      # None: not complete yet, read more (at most MAX_HEADER bytes)
                                # ProxyProtocolError: not a valid header; drop the connection
    header.source               # ("203.0.113.7", 51234), or None: use the connection's own
                                # peer (v2 LOCAL, v1 UNKNOWN, an address family without IPs)
    buffer[header.length:]      # what the client sent after the header (the SSH banner)

``looks_like_proxy(first_bytes)`` tells whether a connection that must not send a header
(an untrusted peer) started as if it did.

The specification is https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt; the
tests hold its examples and headers captured from HAProxy 2.6 (tests/vectors/proxy_protocol).
Strict where it matters: exactly one space between v1 fields, addresses that parse as the
family named, ports 0-65535, a v2 address block no shorter than its family needs, TLVs that
fit exactly, and a CRC32c TLV, when present, that matches.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest v1 line, CRLF included (section 2.1)
V2_FIXED = 16  # signature, version/command, family/protocol, length
# A v2 header announces its own length (up to 65535 bytes of addresses and TLVs); accept
# what a load balancer plausibly sends and no more, so a peer cannot make us buffer 64 KiB.
V2_MAX_PAYLOAD = 4096
MAX_HEADER = V2_FIXED + V2_MAX_PAYLOAD

# v2 TLV types (section 2.2.7) that callers may want by name.
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_TYPE_NETNS = 0x30

_V2_ADDRESS_LENGTH = {0x1: 12, 0x2: 36, 0x3: 216}  # INET, INET6, UNIX


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY header (the connection is to be dropped)."""


@dataclass(frozen=True)
class ProxyHeader:
    version: int  # 1 or 2
    local: bool  # v2 LOCAL: the proxy's own connection (a health check), no client relayed
    source: tuple[str, int] | None  # None: use the connection's own peer address
    destination: tuple[str, int] | None
    length: int  # bytes of the header; the client's data starts here
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, kind: int) -> bytes | None:
        return next((value for t, value in self.tlvs if t == kind), None)


def looks_like_proxy(data: bytes) -> bool:
    """Whether ``data`` (a connection's first bytes, possibly only a few) starts like a
    PROXY header of either version."""
    if not data:
        return False
    for prefix in (V1_PREFIX, V2_SIGNATURE):
        n = min(len(data), len(prefix))
        if data[:n] == prefix[:n]:
            return True
    return False


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None while it may still be incomplete."""
    if not data:
        return None
    if data[0:1] == V1_PREFIX[0:1]:
        if not V1_PREFIX.startswith(data[: len(V1_PREFIX)]):
            raise ProxyProtocolError("not a PROXY header")
        return _parse_v1(data)
    if data[0:1] == V2_SIGNATURE[0:1]:
        if not V2_SIGNATURE.startswith(data[: len(V2_SIGNATURE)]):
            raise ProxyProtocolError("not a PROXY header")
        return _parse_v2(data)
    raise ProxyProtocolError("not a PROXY header")


# -- version 1: one text line ----------------------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data[:V1_MAX]:
            raise ProxyProtocolError("PROXY v1 line without CRLF within 107 bytes")
        return None
    line = data[:end]
    length = end + 2
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from exc
    parts = text.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        # The rest is to be ignored (section 2.1): the proxy does not know the client.
        return ProxyHeader(1, False, None, None, length)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"PROXY v1 line malformed: {text[:V1_MAX]!r}")
    family = 4 if parts[1] == "TCP4" else 6
    source = (_v1_address(parts[2], family), _v1_port(parts[4]))
    destination = (_v1_address(parts[3], family), _v1_port(parts[5]))
    return ProxyHeader(1, False, source, destination, length)


def _v1_address(text: str, family: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not an IP address") from exc
    if address.version != family:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not IPv{family}")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _v1_port(text: str) -> int:
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is not a decimal number")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is out of range")
    return port


# -- version 2: binary -----------------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_FIXED:
        return None
    version_command, family_protocol, payload_length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyProtocolError(f"PROXY v2 header with unknown command {command}")
    if payload_length > V2_MAX_PAYLOAD:
        raise ProxyProtocolError(f"PROXY v2 header of {payload_length} bytes is too long")
    length = V2_FIXED + payload_length
    if len(data) < length:
        return None
    payload = data[V2_FIXED:length]
    family, protocol = family_protocol >> 4, family_protocol & 0x0F
    if family > 3 or protocol > 2:
        raise ProxyProtocolError(f"PROXY v2 header with unknown family 0x{family_protocol:02x}")
    address_length = _V2_ADDRESS_LENGTH.get(family, 0)
    if payload_length < address_length:
        raise ProxyProtocolError("PROXY v2 address block shorter than its family needs")
    tlvs, crc_at = _v2_tlvs(payload[address_length:])
    if crc_at is not None:
        _check_crc(data[:length], V2_FIXED + address_length + crc_at)
    if command == 0:  # LOCAL: the proxy speaking for itself; addresses are to be ignored
        return ProxyHeader(2, True, None, None, length, tlvs)
    source = destination = None
    if family == 0x1 and protocol != 0:
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", payload)
        source = (str(ipaddress.IPv4Address(src)), sport)
        destination = (str(ipaddress.IPv4Address(dst)), dport)
    elif family == 0x2 and protocol != 0:
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", payload)
        source = (_v6(src), sport)
        destination = (_v6(dst), dport)
    # UNSPEC or UNIX: the receiver uses the connection's own addresses (section 2.2).
    return ProxyHeader(2, False, source, destination, length, tlvs)


def _v6(raw: bytes) -> str:
    address = ipaddress.IPv6Address(raw)
    # An IPv4 client of a dual-stack proxy: the address source-address= lists name.
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def _v2_tlvs(block: bytes) -> tuple[tuple[tuple[int, bytes], ...], int | None]:
    """The TLVs, and where in ``block`` the CRC32c TLV's value starts (if there is one)."""
    tlvs = []
    crc_at = None
    offset = 0
    while offset < len(block):
        if len(block) - offset < 3:
            raise ProxyProtocolError("PROXY v2 TLV truncated")
        kind, size = struct.unpack_from("!BH", block, offset)
        offset += 3
        if len(block) - offset < size:
            raise ProxyProtocolError(f"PROXY v2 TLV 0x{kind:02x} longer than the header")
        if kind == PP2_TYPE_CRC32C:
            if size != 4 or crc_at is not None:
                raise ProxyProtocolError("PROXY v2 CRC32c TLV malformed")
            crc_at = offset
        tlvs.append((kind, block[offset : offset + size]))
        offset += size
    return tuple(tlvs), crc_at


def _check_crc(header: bytes, at: int) -> None:
    # The checksum covers the whole header with the CRC field itself zeroed (section 2.2.7).
    zeroed = header[:at] + b"\0\0\0\0" + header[at + 4 :]
    if crc32c(zeroed) != int.from_bytes(header[at : at + 4], "big"):
        raise ProxyProtocolError("PROXY v2 CRC32c does not match")


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as the v2 CRC32c TLV carries it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
