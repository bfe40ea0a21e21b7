"""Host keys for the connector: scan a host, pin its keys, list and unpin them.

Nothing is ever trusted on first use: ``scan`` shows a host's keys and pins nothing, and a
pin names one exact key, given by its fingerprint (the key is taken from a scan and must
match it), by the key itself, or from a known_hosts file.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from gitward.connector.failures import FailureKind, classify
from gitward.connector.host_keys import (
    HostKey,
    InvalidHostKey,
    check_fingerprint,
    keys_for_host,
    known_hosts_text,
    parse_key_line,
    parse_known_hosts,
)
from gitward.connector.urls import format_host_port, parse_host_port
from gitward.errors import GitwardError, InvalidInput, NotFound
from gitward.git.outbound import keyscan, probe_tcp
from gitward.services.context import Context
from gitward.services.views import View
from gitward.store.db import transaction
from gitward.store.models import ConnectorHostKey
from gitward.store.queries import connector as q


class HostUnreachable(GitwardError):
    """A host could not be scanned (refused, timed out, not resolvable)."""

    def __init__(self, message: str, *, kind: FailureKind, cause: str | None = None) -> None:
        super().__init__(message, cause=cause)
        self.kind = kind


@dataclass(frozen=True)
class HostKeyView(View):
    host_port: str
    key_type: str
    fingerprint: str
    public_key: str
    pinned_at: dt.datetime | None = None

    @classmethod
    def of(cls, row: ConnectorHostKey) -> HostKeyView:
        return cls(
            format_host_port(row.host, row.port),
            row.key_type,
            row.fingerprint,
            _key(row).line,
            row.created_at,
        )


def scan_keys(host: str, port: int, timeout: int) -> list[HostKey]:
    """The keys a host presents now; HostUnreachable (classified) when it shows none."""
    result = keyscan(host, port, timeout=timeout)
    try:
        entries = parse_known_hosts(result.output)
    except InvalidHostKey as exc:
        raise HostUnreachable(
            f"{format_host_port(host, port)} answered with unreadable host keys",
            kind=FailureKind.OTHER,
            cause=exc.message,
        ) from exc
    keys: list[HostKey] = []
    for entry in entries:
        if entry.key not in keys:
            keys.append(entry.key)
    if not keys:
        # ssh-keyscan is silent about a closed port: ask the network why, as ssh says it.
        why = result.error.strip() or probe_tcp(host, port, timeout=timeout)
        found = classify(1, why or "no SSH server answered")
        network = (FailureKind.TIMEOUT, FailureKind.NETWORK)
        kind = found.kind if found.kind in network else FailureKind.NETWORK
        reason = found.detail if why else "no SSH server answered (is it SSH?)"
        raise HostUnreachable(
            f"cannot read the host keys of {format_host_port(host, port)}: {reason}",
            kind=kind,
            cause=result.error[-500:],
        )
    return keys


def scan(ctx: Context, host_port: str) -> list[HostKeyView]:
    host, port = parse_host_port(host_port)
    keys = scan_keys(host, port, ctx.settings.connector_connect_timeout)
    label = format_host_port(host, port)
    return [HostKeyView(label, k.key_type, k.fingerprint, k.line) for k in keys]


def pin(
    ctx: Context,
    host_port: str,
    *,
    fingerprint: str | None = None,
    key_line: str | None = None,
    known_hosts: bytes | None = None,
) -> list[HostKeyView]:
    """Pin one key (or every usable key a known_hosts file lists for the host)."""
    given = [x is not None for x in (fingerprint, key_line, known_hosts)]
    if sum(given) != 1:
        raise InvalidInput("give exactly one of --fingerprint, --key or --known-hosts")
    host, port = parse_host_port(host_port)
    label = format_host_port(host, port)
    if key_line is not None:
        keys = [parse_key_line(key_line)]
    elif known_hosts is not None:
        keys = keys_for_host(parse_known_hosts(known_hosts), host, port)
    else:
        wanted = check_fingerprint(fingerprint or "")
        presented = scan_keys(host, port, ctx.settings.connector_connect_timeout)
        keys = [k for k in presented if k.fingerprint == wanted]
        if not keys:
            shown = ", ".join(k.fingerprint for k in presented)
            raise InvalidHostKey(
                f"{label} does not present the key {wanted} (it presents {shown}): nothing "
                "pinned; check the fingerprint with the host's administrator"
            )
    with transaction(ctx.engine) as session:
        existing = {p.fingerprint for p in q.pins_for(session, host, port)}
        for key in keys:
            if key.fingerprint in existing:
                continue
            session.add(
                ConnectorHostKey(
                    host=host,
                    port=port,
                    key_type=key.key_type,
                    public_key=base64.b64encode(key.blob).decode("ascii"),
                    fingerprint=key.fingerprint,
                    created_at=ctx.now(),
                )
            )
            ctx.audit(session, "connector.host.pin", label, fingerprint=key.fingerprint)
        session.flush()
        return [HostKeyView.of(p) for p in q.pins_for(session, host, port)]


def list_pins(ctx: Context) -> list[HostKeyView]:
    with transaction(ctx.engine) as session:
        return [HostKeyView.of(p) for p in q.all_pins(session)]


def unpin(ctx: Context, host_port: str) -> list[HostKeyView]:
    host, port = parse_host_port(host_port)
    with transaction(ctx.engine) as session:
        pins = q.pins_for(session, host, port)
        if not pins:
            raise NotFound(f"no host key is pinned for {format_host_port(host, port)}")
        removed = [HostKeyView.of(p) for p in pins]
        for row in pins:
            session.delete(row)
        ctx.audit(session, "connector.host.unpin", format_host_port(host, port))
        return removed


def pinned_keys(ctx: Context, host: str, port: int) -> list[HostKey]:
    with transaction(ctx.engine) as session:
        return [_key(p) for p in q.pins_for(session, host, port)]


def known_hosts_for(ctx: Context) -> str:
    """Every pin as a known_hosts file (what each ssh session is given)."""
    with transaction(ctx.engine) as session:
        return known_hosts_text((p.host, p.port, _key(p)) for p in q.all_pins(session))


def _key(row: ConnectorHostKey) -> HostKey:
    return HostKey(row.key_type, base64.b64decode(row.public_key))
