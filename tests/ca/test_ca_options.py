"""Critical options and extensions: source-address parsing and matching."""

from __future__ import annotations

import ipaddress
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitward.ca.options import (
    KNOWN_CRITICAL_OPTIONS,
    STANDARD_EXTENSIONS,
    parse_source_address,
    source_address_allows,
    unknown_critical_options,
)
from gitward.errors import CertificateError

PARSE_OK = {
    "ok/ipv4-address": ("10.1.2.3", ["10.1.2.3/32"]),
    "ok/ipv4-cidr": ("10.0.0.0/8", ["10.0.0.0/8"]),
    "ok/ipv4-host-bits-ignored": ("10.1.2.3/8", ["10.0.0.0/8"]),
    "ok/ipv6-address": ("::1", ["::1/128"]),
    "ok/ipv6-cidr": ("2001:db8::/32", ["2001:db8::/32"]),
    "ok/ipv6-upper-case": ("2001:DB8::/32", ["2001:db8::/32"]),
    "ok/mixed-list": (
        "127.0.0.1,::1,192.168.0.0/16",
        ["127.0.0.1/32", "::1/128", "192.168.0.0/16"],
    ),
    "ok/everything-v4": ("0.0.0.0/0", ["0.0.0.0/0"]),
    "ok/mapped-v6-literal": ("::ffff:10.0.0.1", ["::ffff:a00:1/128"]),
}


@pytest.mark.parametrize(("value", "expected"), PARSE_OK.values(), ids=PARSE_OK.keys())
def test_parse_source_address(value: str, expected: list[str]) -> None:
    assert [str(n) for n in parse_source_address(value)] == expected


PARSE_FAIL = {
    "fail/empty": "",
    "fail/empty-entry": "10.0.0.1,",
    "fail/leading-comma": ",10.0.0.1",
    "fail/space-after-comma": "10.0.0.1, 10.0.0.2",
    "fail/space": " 10.0.0.1",
    "fail/hostname": "example.com",
    "fail/wildcard": "10.0.0.*",
    "fail/negation": "!10.0.0.1",
    "fail/zone-id": "fe80::1%eth0",
    "fail/prefix-too-long-v4": "10.0.0.0/33",
    "fail/prefix-too-long-v6": "::/129",
    "fail/prefix-empty": "10.0.0.0/",
    "fail/prefix-sign": "10.0.0.0/+8",
    "fail/octet-too-big": "10.0.0.256",
    "fail/leading-zero-octet": "010.0.0.1",
    "fail/too-few-octets": "10.0.1",
    "fail/newline": "10.0.0.1\n",
    "fail/double-slash": "10.0.0.0/8/8",
    "fail/unicode-digit": "１0.0.0.1",
}


@pytest.mark.parametrize("value", PARSE_FAIL.values(), ids=PARSE_FAIL.keys())
def test_parse_source_address_refuses(value: str) -> None:
    with pytest.raises(CertificateError):
        parse_source_address(value)


@given(st.text(max_size=80))
def test_fuzz_source_address_only_certificate_error(value: str) -> None:
    try:
        networks = parse_source_address(value)
    except CertificateError:
        return
    assert networks  # a parsed list is never empty (never "no restriction")


ALLOW = {
    "ok/v4-in-cidr": ("10.0.0.0/8", "10.200.3.4", True),
    "ok/v4-exact": ("192.0.2.7", "192.0.2.7", True),
    "ok/v6-in-cidr": ("2001:db8::/32", "2001:db8:1::5", True),
    "ok/v6-exact": ("::1", "::1", True),
    "ok/second-entry": ("10.0.0.0/8,192.0.2.0/24", "192.0.2.9", True),
    "ok/mapped-peer-matches-v4-rule": ("127.0.0.1", "::ffff:127.0.0.1", True),
    "ok/mapped-peer-matches-v4-cidr": ("10.0.0.0/8", "::ffff:10.9.8.7", True),
    "fail/v4-outside": ("10.0.0.0/8", "11.0.0.1", False),
    "fail/v6-outside": ("2001:db8::/32", "2001:db9::1", False),
    "fail/v4-peer-v6-rule": ("::1", "127.0.0.1", False),
    "fail/mapped-peer-outside": ("127.0.0.1", "::ffff:127.0.0.2", False),
    "fail/unparsable-peer": ("0.0.0.0/0", "not-an-address", False),
    "fail/empty-peer": ("0.0.0.0/0", "", False),
    "fail/peer-with-port": ("0.0.0.0/0", "10.0.0.1:22", False),
}


@pytest.mark.parametrize(("rule", "peer", "allowed"), ALLOW.values(), ids=ALLOW.keys())
def test_source_address_allows(rule: str, peer: str, allowed: bool) -> None:
    assert source_address_allows(parse_source_address(rule), peer) is allowed


def test_no_networks_allow_nothing() -> None:
    assert not source_address_allows((), "10.0.0.1")


def test_unknown_critical_options_keeps_order() -> None:
    options = MappingProxyType(
        {"z-opt": "", "force-command": "x", "a-opt": "1", "verify-required": ""}
    )
    assert unknown_critical_options(options) == ("z-opt", "a-opt")
    assert unknown_critical_options(MappingProxyType({})) == ()


def test_known_names() -> None:
    assert {"force-command", "source-address", "verify-required"} == KNOWN_CRITICAL_OPTIONS
    assert "no-touch-required" in STANDARD_EXTENSIONS
    assert "permit-X11-forwarding" in STANDARD_EXTENSIONS
    assert isinstance(parse_source_address("::1")[0], ipaddress.IPv6Network)
