"""Certificate critical options and extensions: the names we know and what they mean.

A critical option is one the server *must* understand: an unknown one means the CA wanted
a restriction we cannot enforce, so policy refuses the certificate (fails closed).
Extensions only grant things; unknown ones are ignored (OpenSSH does the same).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final

from gitward.errors import CertificateError

FORCE_COMMAND: Final = "force-command"
SOURCE_ADDRESS: Final = "source-address"
VERIFY_REQUIRED: Final = "verify-required"

KNOWN_CRITICAL_OPTIONS: Final = frozenset({FORCE_COMMAND, SOURCE_ADDRESS, VERIFY_REQUIRED})

STANDARD_EXTENSIONS: Final = frozenset(
    {
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
        "no-touch-required",
    }
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The characters OpenSSH's addr_match_cidr_list allows in an entry: no spaces, no zone
# ids (%eth0), no hostnames. Python's parser is more lenient, so this is checked first.
_ENTRY = re.compile(r"[0-9a-fA-F.:]{1,45}(?:/[0-9]{1,3})?")


def unknown_critical_options(options: Mapping[str, str]) -> tuple[str, ...]:
    """The critical option names we do not understand, in certificate order."""
    return tuple(name for name in options if name not in KNOWN_CRITICAL_OPTIONS)


def parse_source_address(value: str) -> tuple[Network, ...]:
    """Parse a ``source-address`` value: comma-separated IPv4/IPv6 addresses and CIDRs.

    Like OpenSSH, host bits under the mask are ignored (``10.1.2.3/8`` is ``10.0.0.0/8``);
    unlike a lenient parser, an empty entry, a space, or a hostname is an error: a
    restriction we misread must not become no restriction.
    """
    if not value:
        raise CertificateError(
            "the SSH certificate has an invalid source-address", cause="empty source-address"
        )
    return tuple(_parse_entry(entry) for entry in value.split(","))


def _parse_entry(entry: str) -> Network:
    if not _ENTRY.fullmatch(entry):
        raise CertificateError(
            "the SSH certificate has an invalid source-address",
            cause=f"bad source-address entry {entry!r}",
        )
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError as exc:
        raise CertificateError(
            "the SSH certificate has an invalid source-address",
            cause=f"bad source-address entry {entry!r}: {exc}",
        ) from exc


def source_address_allows(networks: tuple[Network, ...], peer: str) -> bool:
    """True when ``peer`` lies in one of ``networks``.

    An IPv4-mapped IPv6 peer (``::ffff:10.0.0.1``, what a dual-stack socket reports for an
    IPv4 client) is matched as the IPv4 address it is. An unparsable peer matches nothing.
    """
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
