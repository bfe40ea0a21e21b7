"""The PROXY protocol parser against the specification's examples, headers captured from
HAProxy 2.6 (tests/vectors/proxy_protocol/capture.py), and hostile input from a test-only
encoder."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from gitward.proxy_protocol import (
    MAX_HEADER,
    PP2_TYPE_CRC32C,
    PP2_TYPE_UNIQUE_ID,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    crc32c,
    looks_like_proxy,
    parse,
)

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "proxy_protocol" / "haproxy.json").read_text()
)
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


def v2(
    payload: bytes,
    *,
    command: int = 1,
    family_protocol: int = 0x11,
    version: int = 2,
    length: int | None = None,
) -> bytes:
    """A v2 header with any field wrong on purpose."""
    size = len(payload) if length is None else length
    fixed = struct.pack("!BBH", version << 4 | command, family_protocol, size)
    return V2_SIGNATURE + fixed + payload


def ipv4_block(src: str = "203.0.113.7", dst: str = "192.0.2.1", sport: int = 51234) -> bytes:
    return bytes(map(int, src.split("."))) + bytes(map(int, dst.split("."))) + struct.pack(
        "!HH", sport, 22
    )


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def parsed(data: bytes) -> ProxyHeader:
    header = parse(data)
    assert header is not None
    return header


# -- headers HAProxy sent -------------------------------------------------------------


@pytest.mark.parametrize("name", ["v1_tcp4", "v1_tcp6", "v2_tcp4", "v2_tcp6", "v2_tlvs"])
def test_ok_haproxy_header_names_the_client_and_leaves_its_data(name: str) -> None:
    case = VECTORS[name]
    data = bytes.fromhex(case["bytes"])
    header = parsed(data)
    assert header.version == int(name[1])
    assert not header.local
    assert header.source == tuple(case["source"])
    assert header.destination == tuple(case["destination"])
    assert data[header.length :] == case["client_data"].encode()


def test_ok_haproxy_tlvs_crc32c_and_unique_id() -> None:
    header = parsed(bytes.fromhex(VECTORS["v2_tlvs"]["bytes"]))
    assert header.tlv(PP2_TYPE_CRC32C) is not None
    unique = header.tlv(PP2_TYPE_UNIQUE_ID)
    assert unique is not None and unique.startswith(b"gitward-")


def test_ok_haproxy_health_check_is_local_and_names_nobody() -> None:
    data = bytes.fromhex(VECTORS["v2_local"]["bytes"])
    header = parsed(data)
    assert (header.version, header.local, header.source, header.length) == (2, True, None, 16)


def test_fail_haproxy_header_with_a_corrupted_crc32c() -> None:
    data = bytearray(bytes.fromhex(VECTORS["v2_tlvs"]["bytes"]))
    data[17] ^= 0x01  # one bit of the client's address
    with pytest.raises(ProxyProtocolError, match="CRC32c"):
        parse(bytes(data))


@pytest.mark.parametrize("name", ["v1_tcp4", "v2_tcp6", "v2_tlvs", "v2_local"])
def test_ok_every_prefix_of_a_header_asks_for_more(name: str) -> None:
    data = bytes.fromhex(VECTORS[name]["bytes"])
    length = parsed(data).length
    for end in range(length):
        assert parse(data[:end]) is None, end
        assert looks_like_proxy(data[:end]) == (end > 0)


# -- the specification's examples (proxy-protocol.txt, section 2.1) ---------------------


@pytest.mark.parametrize(
    ("line", "source"),
    [
        (b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", ("255.255.255.255", 65535)),
        (
            b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            b" ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
        ),
        (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", ("192.168.0.1", 56324)),
        (b"PROXY TCP6 2001:db8::1 2001:db8::2 0 22\r\n", ("2001:db8::1", 0)),
        (b"PROXY UNKNOWN\r\n", None),
        (
            b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            b" ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            None,
        ),
    ],
)
def test_ok_v1_spec_examples(line: bytes, source: tuple[str, int] | None) -> None:
    header = parsed(line + SSH_BANNER)
    assert (header.version, header.source, header.length) == (1, source, len(line))
    assert len(line) <= 107


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", id="fail/lf-without-cr"),
        pytest.param(b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", id="fail/double-space"),
        pytest.param(b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", id="fail/lowercase-family"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", id="fail/missing-port"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", id="fail/extra-field"),
        pytest.param(b"PROXY TCP4 ::1 ::1 1 2\r\n", id="fail/ipv6-under-tcp4"),
        pytest.param(b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", id="fail/ipv4-under-tcp6"),
        pytest.param(b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", id="fail/short-address"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", id="fail/port-out-of-range"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 022 2\r\n", id="fail/port-leading-zero"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", id="fail/negative-port"),
        pytest.param(b"PROXY TCP4 1.2.3.\xc9 5.6.7.8 1 2\r\n", id="fail/not-ascii"),
        pytest.param(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", id="fail/udp"),
        pytest.param(b"PROXY " + b"A" * 120, id="fail/no-crlf-within-107-bytes"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2" + b" " * 80 + b"\r\n", id="fail/too-long"),
        pytest.param(b"PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n", id="fail/not-proxy"),
    ],
)
def test_fail_v1_malformed(line: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse(line)


# -- version 2 ------------------------------------------------------------------------


def test_ok_v2_ipv4_with_tlvs_after_the_addresses() -> None:
    data = v2(ipv4_block() + tlv(0x01, b"h2") + tlv(0xE0, b"")) + SSH_BANNER
    header = parsed(data)
    assert header.source == ("203.0.113.7", 51234)
    assert header.destination == ("192.0.2.1", 22)
    assert header.tlvs == ((0x01, b"h2"), (0xE0, b""))
    assert data[header.length :] == SSH_BANNER


def test_ok_v2_ipv6_and_ipv4_mapped_reads_as_ipv4() -> None:
    native = bytes.fromhex("20010db8000000000000000000000001")
    mapped = bytes(10) + b"\xff\xff" + bytes([198, 51, 100, 9])
    for raw, expected in [(native, "2001:db8::1"), (mapped, "198.51.100.9")]:
        header = parsed(v2(raw + native + struct.pack("!HH", 4000, 22), family_protocol=0x21))
        assert header.source == (expected, 4000)


def test_ok_v2_local_ignores_whatever_addresses_follow() -> None:
    header = parsed(v2(ipv4_block(), command=0))
    assert header.local and header.source is None


@pytest.mark.parametrize("family_protocol", [0x00, 0x10, 0x31, 0x32])
def test_ok_v2_proxy_without_ip_addresses_uses_the_connection(family_protocol: int) -> None:
    block = bytes(216) if family_protocol >> 4 == 3 else bytes(12 if family_protocol else 0)
    header = parsed(v2(block, family_protocol=family_protocol))
    assert not header.local and header.source is None


def test_ok_v2_valid_crc32c() -> None:
    body = ipv4_block() + tlv(PP2_TYPE_CRC32C, bytes(4))
    whole = v2(body)
    crc = crc32c(whole).to_bytes(4, "big")
    assert parsed(whole[:-4] + crc).source == ("203.0.113.7", 51234)


def test_ok_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(v2(ipv4_block(), version=1), id="fail/version-1-in-v2-signature"),
        pytest.param(v2(ipv4_block(), version=3), id="fail/version-3"),
        pytest.param(v2(ipv4_block(), command=2), id="fail/unknown-command"),
        pytest.param(v2(ipv4_block(), family_protocol=0x41), id="fail/unknown-family"),
        pytest.param(v2(ipv4_block(), family_protocol=0x13), id="fail/unknown-protocol"),
        pytest.param(v2(ipv4_block()[:11]), id="fail/ipv4-block-short"),
        pytest.param(v2(bytes(35), family_protocol=0x21), id="fail/ipv6-block-short"),
        pytest.param(v2(ipv4_block() + b"\x01\x00"), id="fail/tlv-header-truncated"),
        pytest.param(v2(ipv4_block() + b"\x01\x00\x05abc"), id="fail/tlv-longer-than-header"),
        pytest.param(v2(ipv4_block() + tlv(PP2_TYPE_CRC32C, b"abc")), id="fail/crc-not-4-bytes"),
        pytest.param(v2(ipv4_block() + tlv(PP2_TYPE_CRC32C, bytes(4))), id="fail/crc-mismatch"),
        pytest.param(v2(b"", length=MAX_HEADER), id="fail/announced-length-too-long"),
        pytest.param(V2_SIGNATURE[:5] + b"X" + bytes(20), id="fail/broken-signature"),
    ],
)
def test_fail_v2_malformed(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse(data)


def test_ok_v2_truncated_is_incomplete_not_garbage() -> None:
    whole = v2(ipv4_block() + tlv(0x05, b"id"))
    assert parse(whole[:-1]) is None
    assert parse(whole[:15]) is None


# -- what an untrusted or a non-proxy client sends -------------------------------------


@pytest.mark.parametrize(
    "data",
    [SSH_BANNER, b"GET / HTTP/1.1\r\n", b"\x00\x00\x00", b"\r\n\r\nnot-proxy", b"P\r\n"],
)
def test_fail_not_a_proxy_header(data: bytes) -> None:
    assert not looks_like_proxy(data)
    with pytest.raises(ProxyProtocolError):
        parse(data)


def test_ok_looks_like_proxy_on_the_first_bytes() -> None:
    assert looks_like_proxy(b"PROXY TCP4 ")
    assert looks_like_proxy(b"PRO")
    assert looks_like_proxy(b"\r\n\r\n\x00")
    assert not looks_like_proxy(b"")
    assert not looks_like_proxy(b"SSH-2.0-")


def test_ok_v1_ipv4_mapped_reads_as_ipv4() -> None:
    header = parsed(b"PROXY TCP6 ::ffff:198.51.100.9 ::1 4000 22\r\n")
    assert header.source == ("198.51.100.9", 4000)
