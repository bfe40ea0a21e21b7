"""Connection limits before authentication, like OpenSSH's MaxStartups and
PerSourcePenalties. Pure bookkeeping: the clock and the randomness are passed in.

- ``StartupLimit`` caps connections that have not authenticated yet: below ``start`` all
  are accepted; from ``start`` on, each new one is dropped with probability rising from
  ``rate``% to 100% at ``full``.
- ``PenaltyBox`` remembers addresses whose connections end without authenticating, with
  OpenSSH's default PerSourcePenalties: ``authfail`` seconds when the client tried and
  failed, ``noauth`` when it never tried (ssh-keyscan, a client that rejected our host
  key), capped at ``ceiling``; once an address owes more than ``threshold`` seconds its new
  connections are refused until the penalty has run down. Authenticated connections are
  never touched, and addresses in ``exempt`` are never penalised.
- ``SourceStartups`` caps the unauthenticated connections of one address (OpenSSH's
  PerSourceMaxStartups), so that one source cannot take every startup slot; exempt
  addresses (a NAT gateway, a CI farm, a load balancer) are not counted.

The defaults are sized for an event-loop server, where an unauthenticated connection
costs a socket and a few kilobytes, not a forked process as in OpenSSH (whose
``10:30:100`` dropped 3 or 4 of 20 simultaneous clones from one CI machine):
``max_startups = 256:30:1024`` and ``per_source_max_startups = 128``. Floods are still
bounded: past ``full`` every new connection is dropped, ``login_grace_seconds`` closes the
idle ones, and each connection that ends unauthenticated adds to its source's penalty.

With ``workers = N`` each worker process keeps its own books, over the connections the
kernel hands it (``SO_REUSEPORT`` spreads them by a hash of the client's address and port,
so about 1/N of each source's connections). The limits are therefore divided (``per_worker``):
each worker caps its unauthenticated connections at ``max_startups`` / N and one source's at
``per_source_max_startups`` / N, rounded up, so the totals never exceed the settings (by at
most N-1 from the rounding); and each worker charges a failure N times its penalty, so a
source spreading its failures over the workers reaches the threshold after about as many
failures as with one process (one that lands them all on one worker, after fewer).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from gitward.errors import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class StartupLimit:
    start: int
    rate: int
    full: int

    @classmethod
    def parse(cls, spec: str) -> StartupLimit:
        """``N`` or ``start:rate:full``, as in sshd_config's MaxStartups."""
        try:
            parts = [int(p) for p in spec.split(":")]
        except ValueError as exc:
            raise ConfigurationError(
                f"max_startups must be N or start:rate:full, not {spec!r}"
            ) from exc
        if len(parts) == 1:
            parts = [parts[0], 100, parts[0]]
        if len(parts) != 3 or not (0 < parts[0] <= parts[2] and 0 <= parts[1] <= 100):
            raise ConfigurationError(f"max_startups must be N or start:rate:full, not {spec!r}")
        return cls(*parts)

    def per_worker(self, workers: int) -> StartupLimit:
        """This limit shared by ``workers`` processes: start and full divided, rounded up."""
        return StartupLimit(
            math.ceil(self.start / workers), self.rate, math.ceil(self.full / workers)
        )

    def admits(self, unauthenticated: int, draw: float) -> bool:
        """May one more unauthenticated connection start? ``draw`` is uniform in [0, 1)."""
        if unauthenticated < self.start:
            return True
        if unauthenticated >= self.full:
            return False
        span = self.full - self.start
        drop = self.rate + (100 - self.rate) * (unauthenticated - self.start) / span
        return draw * 100 >= drop


@dataclass
class SourceStartups:
    """Unauthenticated connections per source address; ``limit`` 0 means no limit."""

    limit: int
    exempt: tuple[Network, ...] = ()
    _open: dict[str, int] = field(default_factory=dict)

    def per_worker(self, workers: int) -> SourceStartups:
        return SourceStartups(math.ceil(self.limit / workers), self.exempt)

    def admits(self, peer: str) -> bool:
        return not self.limit or self._open.get(peer, 0) < self.limit or _exempt(peer, self.exempt)

    def opened(self, peer: str) -> None:
        self._open[peer] = self._open.get(peer, 0) + 1

    def closed(self, peer: str) -> None:
        left = self._open.get(peer, 0) - 1
        if left > 0:
            self._open[peer] = left
        else:
            self._open.pop(peer, None)


def parse_networks(spec: str, setting: str = "penalty_exempt") -> tuple[Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in spec.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ConfigurationError(f"{setting} must be a CIDR list, not {spec!r}") from exc


def _address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def contains(networks: tuple[Network, ...], peer: str) -> bool:
    """Whether ``peer`` is in one of ``networks``; an address that does not parse is not."""
    addr = _address(peer)
    return addr is not None and any(addr in net for net in networks)


def _exempt(peer: str, exempt: tuple[Network, ...]) -> bool:
    addr = _address(peer)
    return addr is None or any(addr in net for net in exempt)


@dataclass
class PenaltyBox:
    exempt: tuple[Network, ...] = ()
    authfail: float = 5.0
    noauth: float = 1.0
    threshold: float = 15.0
    ceiling: float = 600.0
    _until: dict[str, float] = field(default_factory=dict)

    def per_worker(self, workers: int) -> PenaltyBox:
        """For one of ``workers`` processes, each seeing about 1/N of a source's
        connections: every failure charged N times."""
        return PenaltyBox(
            self.exempt, self.authfail * workers, self.noauth * workers, self.threshold,
            self.ceiling,
        )

    def penalise(self, peer: str, now: float, *, tried: bool = True) -> None:
        """Charge ``peer`` for a connection that ended unauthenticated; ``tried``: it
        offered at least one credential that failed."""
        if _exempt(peer, self.exempt):
            return
        owed = max(self._until.get(peer, now), now) - now
        step = self.authfail if tried else self.noauth
        self._until[peer] = now + min(owed + step, self.ceiling)
        if len(self._until) > 65536:  # bound memory under a flood of sources
            self._until = {p: t for p, t in self._until.items() if t > now}

    def in_force(self, now: float) -> int:
        """How many addresses are refused now (they owe more than ``threshold``)."""
        return sum(1 for until in self._until.values() if until - now > self.threshold)

    def refuses(self, peer: str, now: float) -> bool:
        until = self._until.get(peer)
        if until is None:
            return False
        if until <= now:
            del self._until[peer]
            return False
        return until - now > self.threshold
