"""Prometheus metrics: every metric Gitward exports, and one function per thing that happens.

Transports and services call the functions (``metrics.git_operation_finished(...)``), never
prometheus_client itself, so the names, labels and buckets live here only::

    gitward_ssh_connections_accepted_total                    counter
    gitward_ssh_connections_refused_total{reason}             counter: max_startups,
                                                              per_source, penalty
    gitward_ssh_unauthenticated_connections                   gauge (summed over processes)
    gitward_ssh_penalized_sources                             gauge: addresses refused now
    gitward_ssh_auth_decisions_total{outcome,reason}          counter: ok|denied, the
                                                              access core's reason codes
    gitward_git_operations_total{service,outcome}             counter: ok|failed|denied
    gitward_git_operation_duration_seconds{service,outcome}   histogram (operations that ran)
    gitward_git_sent_bytes_total{service}                     counter: git's output
    gitward_git_received_bytes_total{service}                 counter: the client's input
    gitward_certificates_issued_total{organization,ca}        counter (ca: its fingerprint)
    gitward_connector_syncs_total{outcome}                    counter: ok or a FailureKind
    gitward_connector_last_success_age_seconds{repository}    gauge, read from the database
                                                              at scrape time (+Inf: never)

Several processes. prometheus_client keeps values in memory, per process. When
``PROMETHEUS_MULTIPROC_DIR`` is set (or ``prepare_multiprocess(dir)`` ran before the
first metric was used and before forking), every process writes its values to files in
that directory and a scrape of any one of them adds up all of them: counters and
histograms summed over every process that ever ran since the directory was cleared, the
gauges summed over the live ones. A parent that forks workers calls
``prepare_multiprocess(dir)`` first and ``mark_process_dead(pid)`` when a worker exits.

The connector ages come from the database, so any process answers them alike; they are
computed by a callback the transport passes to ``exposition`` (a services function).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

# Clones and pushes take from milliseconds (an empty fetch) to many minutes (a big clone
# over a slow link).
GIT_DURATION_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    1800.0, 3600.0,
)  # fmt: skip

# The reasons a connection is dropped before the SSH handshake (sshd/server.py).
REFUSED_MAX_STARTUPS: Final = "max_startups"
REFUSED_PER_SOURCE: Final = "per_source"
REFUSED_PENALTY: Final = "penalty"
# A PROXY header missing or invalid from a trusted balancer, or sent by anyone else.
REFUSED_PROXY_HEADER: Final = "proxy_header"

# (repository name, seconds since its last successful sync; math.inf when never)
ConnectorAges = Callable[[], Iterable[tuple[str, float]]]


class _Metrics:
    """The metric objects of this process, registered in a private registry (scrapes go
    through ``exposition``, which adds the other processes and the database's gauges)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "gitward_ssh_connections_accepted",
            "SSH connections accepted (before authentication)",
            registry=r,
        )
        self.refused = Counter(
            "gitward_ssh_connections_refused",
            "SSH connections dropped before the handshake, by reason",
            ["reason"],
            registry=r,
        )
        self.unauthenticated = Gauge(
            "gitward_ssh_unauthenticated_connections",
            "SSH connections that have not authenticated yet",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.penalized = Gauge(
            "gitward_ssh_penalized_sources",
            "Source addresses whose new connections are refused now (penalty box)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.auth = Counter(
            "gitward_ssh_auth_decisions",
            "SSH authentication decisions, by outcome and reason code",
            ["outcome", "reason"],
            registry=r,
        )
        self.git_ops = Counter(
            "gitward_git_operations",
            "Git operations, by service and outcome (ok, failed, denied)",
            ["service", "outcome"],
            registry=r,
        )
        self.git_seconds = Histogram(
            "gitward_git_operation_duration_seconds",
            "Duration of the git operations that ran, by service and outcome",
            ["service", "outcome"],
            buckets=GIT_DURATION_BUCKETS,
            registry=r,
        )
        self.sent = Counter(
            "gitward_git_sent_bytes",
            "Bytes git sent to clients, by service",
            ["service"],
            registry=r,
        )
        self.received = Counter(
            "gitward_git_received_bytes",
            "Bytes clients sent to git, by service",
            ["service"],
            registry=r,
        )
        self.issued = Counter(
            "gitward_certificates_issued",
            "Certificates issued, by organization and CA fingerprint",
            ["organization", "ca"],
            registry=r,
        )
        self.syncs = Counter(
            "gitward_connector_syncs",
            "Connector repository syncs, by outcome (ok or the failure kind)",
            ["outcome"],
            registry=r,
        )
        if multiprocess_dir() is None:
            ProcessCollector(registry=r)


_lock = threading.Lock()
_metrics: _Metrics | None = None


def _m() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


# ---- multiprocess -----------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The directory the processes share their values through, or None (one process)."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess(directory: Path) -> None:
    """Share metrics between this process and the ones it forks next: call in the parent
    before forking (and before any metric is used). Empties ``directory`` (values of an
    earlier run would be added to this one's)."""
    global _metrics
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    with _lock:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _metrics = None  # rebuilt on first use, on the files


def mark_process_dead(pid: int) -> None:
    """A worker exited: its live gauges stop counting (its counters stay in the sums)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# ---- what happens -------------------------------------------------------------------------


def connection_accepted() -> None:
    _m().accepted.inc()


def connection_refused(reason: str) -> None:
    _m().refused.labels(reason).inc()


def ssh_gauges(*, unauthenticated: int, penalized: int) -> None:
    """This process's SSH listener now (reported about once a second)."""
    m = _m()
    m.unauthenticated.set(unauthenticated)
    m.penalized.set(penalized)


def auth_decision(outcome: str, reason: str) -> None:
    """One recorded authentication decision; ``reason`` is an access Reason code."""
    _m().auth.labels(outcome, reason).inc()


def git_operation_denied(service: str) -> None:
    _m().git_ops.labels(service, "denied").inc()


def git_operation_finished(service: str, outcome: str, seconds: float) -> None:
    """A git service that ran: ``outcome`` "ok" (exit 0) or "failed"."""
    m = _m()
    m.git_ops.labels(service, outcome).inc()
    m.git_seconds.labels(service, outcome).observe(seconds)


@dataclass
class GitTraffic:
    """The bytes of one git operation: counted as they pass (so an interrupted transfer
    counts too) and totalled for its log line."""

    service: str
    sent: int = 0
    received: int = 0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        m = _m()
        self._sent = m.sent.labels(self.service)
        self._received = m.received.labels(self.service)

    def count_sent(self, size: int) -> None:
        self.sent += size
        self._sent.inc(size)

    def count_received(self, size: int) -> None:
        self.received += size
        self._received.inc(size)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def certificate_issued(organization: str, ca_fingerprint: str) -> None:
    """After the issuing transaction committed."""
    _m().issued.labels(organization, ca_fingerprint).inc()


def connector_sync_finished(outcome: str) -> None:
    """After the sync's outcome was recorded: "ok" or the FailureKind's value."""
    _m().syncs.labels(outcome).inc()


# ---- scraping ---------------------------------------------------------------------------


class _ConnectorAgeCollector(Collector):
    def __init__(self, ages: ConnectorAges) -> None:
        self._ages = ages

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "gitward_connector_last_success_age_seconds",
            "Seconds since each connector repository last synced successfully (+Inf: never)",
            labels=["repository"],
        )
        for name, age in self._ages():
            family.add_metric([name], age if math.isfinite(age) else math.inf)
        yield family


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


def scrape_registry(connector_ages: ConnectorAges | None = None) -> CollectorRegistry:
    """What one scrape reads: every process's values (or this one's) and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Delegate(_m().registry))
    if connector_ages is not None:
        registry.register(_ConnectorAgeCollector(connector_ages))
    return registry


def exposition(connector_ages: ConnectorAges | None = None) -> bytes:
    """The text a scrape of /metrics returns (``CONTENT_TYPE``)."""
    return generate_latest(scrape_registry(connector_ages))
