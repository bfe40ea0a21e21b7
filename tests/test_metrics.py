"""gitward/metrics.py: the counts a scrape reads, in one process and across forked ones."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gitward import metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def read(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_ok_each_event_is_counted_with_its_labels() -> None:
    before = metrics.exposition().decode()
    metrics.git_operation_finished("git-upload-pack", "ok", 0.3)
    metrics.git_operation_finished("git-upload-pack", "ok", 4.0)
    metrics.git_operation_denied("git-receive-pack")
    metrics.auth_decision("denied", "cert.expired")
    metrics.certificate_issued("acme", "SHA256:abc")
    metrics.connector_sync_finished("host_key_unknown")
    metrics.connection_refused(metrics.REFUSED_PER_SOURCE)
    traffic = metrics.GitTraffic("git-upload-archive")
    traffic.count_sent(1000)
    traffic.count_sent(24)
    traffic.count_received(7)
    after = metrics.exposition(lambda: [("app", 12.5), ("new", math.inf)]).decode()

    def grew(name: str, **labels: str) -> float:
        return read(after, name, **labels) - read(before, name, **labels)

    ok = {"service": "git-upload-pack", "outcome": "ok"}
    assert grew("gitward_git_operations_total", **ok) == 2
    assert grew("gitward_git_operation_duration_seconds_count", **ok) == 2
    assert grew("gitward_git_operation_duration_seconds_sum", **ok) == 4.3
    assert grew("gitward_git_operation_duration_seconds_bucket", le="0.5", **ok) == 1
    assert grew("gitward_git_operation_duration_seconds_bucket", le="5.0", **ok) == 2
    assert grew("gitward_git_operations_total", service="git-receive-pack", outcome="denied") == 1
    assert grew("gitward_ssh_auth_decisions_total", outcome="denied", reason="cert.expired") == 1
    assert grew("gitward_certificates_issued_total", organization="acme", ca="SHA256:abc") == 1
    assert grew("gitward_connector_syncs_total", outcome="host_key_unknown") == 1
    assert grew("gitward_ssh_connections_refused_total", reason="per_source") == 1
    assert grew("gitward_git_sent_bytes_total", service="git-upload-archive") == 1024
    assert grew("gitward_git_received_bytes_total", service="git-upload-archive") == 7
    assert (traffic.sent, traffic.received) == (1024, 7)
    assert read(after, "gitward_connector_last_success_age_seconds", repository="app") == 12.5
    assert math.isinf(read(after, "gitward_connector_last_success_age_seconds", repository="new"))


# Run in a fresh interpreter: multiprocess mode changes the process's prometheus_client.
_FORKED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from gitward import metrics

    metrics.prepare_multiprocess(Path(sys.argv[1]))

    def worker(unauthenticated, operations):
        for _ in range(operations):
            metrics.connection_accepted()
            metrics.git_operation_finished("git-upload-pack", "ok", 0.2)
        metrics.ssh_gauges(unauthenticated=unauthenticated, penalized=1)

    done_r, done_w = os.pipe()
    hold_r, hold_w = os.pipe()
    first = os.fork()
    if first == 0:
        worker(2, 3)
        os._exit(0)
    os.waitpid(first, 0)
    metrics.mark_process_dead(first)
    second = os.fork()
    if second == 0:
        worker(5, 4)
        os.write(done_w, b"x")
        os.read(hold_r, 1)  # alive while the parent scrapes
        os._exit(0)
    os.read(done_r, 1)
    sys.stdout.write(metrics.exposition().decode())
    os.write(hold_w, b"x")
    os.waitpid(second, 0)
    """
)


def test_ok_forked_workers_add_up_and_dead_ones_leave_the_gauges(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"stale")  # an earlier run's file is removed
    run = subprocess.run(
        [sys.executable, "-c", _FORKED, str(shared)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert read(text, "gitward_ssh_connections_accepted_total") == 7  # 3 + 4
    ok = {"service": "git-upload-pack", "outcome": "ok"}
    assert read(text, "gitward_git_operations_total", **ok) == 7
    assert read(text, "gitward_git_operation_duration_seconds_count", **ok) == 7
    # Gauges: the live worker's only (the first exited and was marked dead).
    assert read(text, "gitward_ssh_unauthenticated_connections") == 5
    assert read(text, "gitward_ssh_penalized_sources") == 1
