"""Issue 11's monitoring, against a real `gitward serve` with JSON logs: after real traffic
(a clone, a 1 MB push, a refused key, a denied clone, an issued certificate, a connector
sync, a penalised address) /metrics counts each of them with its labels, every line the
server wrote is one JSON object, the authentication and git decisions carry the fields of
their audit events, nothing secret is in the log, and /healthz and /readyz answer."""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitward.services import accounts, connector_repos, orgs, repositories
from gitward.services.context import Context, open_context
from gitward.services.managed_ca import create_managed_ca
from gitward.services.passwords import set_password
from gitward.services.tokens import create_token
from gitward.settings import Settings
from gitward.store.db import transaction
from gitward.store.queries import audit
from tests.e2e.harness import HOSTNAME, Client, Server, keygen, log_problems, server_env
from tests.web.conftest import PASSWORD, csrf_of


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (the counts are exact), logging JSON, penalising 127.0.0.1."""
    base = tmp_path_factory.mktemp("observed")
    env = server_env(log_format="json", penalty_exempt="")
    srv = Server(base / "data", env).start()
    try:
        yield srv
    finally:
        srv.stop()
    assert not log_problems(srv.log())


@pytest.fixture(scope="module")
def watched_admin(watched: Server) -> Iterator[Context]:
    settings = Settings(data_dir=watched.data_dir, hostname=HOSTNAME, ssh_port=watched.port)
    ctx = open_context(settings)
    try:
        yield ctx
    finally:
        ctx.engine.dispose()


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.http_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(server: Server, name: str, expected: float, **labels: str) -> None:
    deadline = time.monotonic() + 15
    while (got := value(scrape(server), name, **labels)) != expected:
        assert time.monotonic() < deadline, f"{name}{labels} = {got}, expected {expected}"
        time.sleep(0.2)


def _client(server: Server, home: Path) -> Client:
    home.mkdir()
    return Client(server, home, keygen(home / "id_key"))


def test_ok_metrics_logs_and_health_after_real_traffic(
    watched: Server, watched_admin: Context, tmp_path: Path
) -> None:
    admin = watched_admin
    org = orgs.create_org(admin, "obs-acme")
    accounts.create_user(admin, "obs-alice")
    orgs.add_member(admin, org.name, "obs-alice", role="owner")
    repositories.create_repo(admin, "obs-acme/app")
    ca = create_managed_ca(admin, org=org.name)
    token = create_token(admin, "obs-alice").token
    alice = _client(watched, tmp_path / "alice")
    accounts.add_key(admin, "obs-alice", Path(f"{alice.key}.pub").read_bytes())
    stranger = _client(watched, tmp_path / "stranger")

    # One connection that never authenticates: the gauge counts it while it is open.
    idle = socket.create_connection(("127.0.0.1", watched.port))
    try:
        idle.recv(256)  # the server's version line
        wait_for(watched, "gitward_ssh_unauthenticated_connections", 1)
    finally:
        idle.close()
    wait_for(watched, "gitward_ssh_unauthenticated_connections", 0)

    # A clone, a 1 MB push (a clone first, then the push), a clone that is denied.
    assert alice.clone("obs-acme/app").code == 0
    work = alice.home / "work_obs-acme_app"
    assert alice.git("clone", "-q", alice.url("obs-acme/app"), str(work)).code == 0
    (work / "blob.bin").write_bytes(os.urandom(1 << 20))
    alice.git("add", "blob.bin", cwd=work)
    alice.git("commit", "-q", "-m", "a megabyte", cwd=work)
    pushed = alice.git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
    assert pushed.code == 0, pushed.err
    assert "Repository not found" in alice.clone("obs-acme/missing").err

    # A certificate through the issuing API.
    issued = httpx.post(
        f"{watched.http_url}/api/v1/ssh/certificates",
        headers={"Authorization": f"Bearer {token}"},
        json={"public_key": Path(f"{alice.key}.pub").read_text(), "organization": org.name},
        timeout=30,
    )
    assert issued.status_code in (200, 201), issued.text

    # Web sign-ins: a wrong password, then the right one.
    set_password(admin, "obs-alice", PASSWORD)
    wrong = "wrong " + PASSWORD[::-1]
    cookies = []
    for password in (wrong, PASSWORD):
        with httpx.Client(base_url=str(watched.http_url), timeout=30) as web:
            page = web.get("/login")
            form = {"csrf_token": csrf_of(page.text), "username": "obs-alice"}
            web.post("/login", data={**form, "password": password})
            cookies += [v for v in web.cookies.values() if len(v) > 16]
    assert cookies  # the session and CSRF cookies: secrets too

    # A connector repository: the scheduler syncs it at once and fails (no key yet).
    connector_repos.add(admin, "git@github.example:obs/app.git", name="obs-app")
    wait_for(watched, "gitward_connector_syncs_total", 1, outcome="no_key")

    # The stranger's key is refused; each refused connection adds 5 s to 127.0.0.1's
    # penalty, and past 15 s the next connection is dropped before the handshake.
    denied = 0
    for _ in range(10):
        run = stranger.ssh()
        if "Permission denied" not in run.err:
            break
        denied += 1
    else:
        pytest.fail("the penalty box never refused 127.0.0.1")
    assert denied >= 3
    wait_for(watched, "gitward_ssh_penalized_sources", 1)

    m = scrape(watched)
    assert value(m, "gitward_git_operations_total", service="git-upload-pack", outcome="ok") == 2
    assert value(m, "gitward_git_operations_total", service="git-receive-pack", outcome="ok") == 1
    assert (
        value(m, "gitward_git_operations_total", service="git-upload-pack", outcome="denied") == 1
    )
    assert (
        value(
            m,
            "gitward_git_operation_duration_seconds_count",
            service="git-receive-pack",
            outcome="ok",
        )
        == 1
    )
    assert (
        value(
            m,
            "gitward_git_operation_duration_seconds_sum",
            service="git-receive-pack",
            outcome="ok",
        )
        > 0
    )
    assert value(m, "gitward_git_received_bytes_total", service="git-receive-pack") > 1 << 20
    assert value(m, "gitward_git_sent_bytes_total", service="git-upload-pack") > 0
    assert value(m, "gitward_ssh_auth_decisions_total", outcome="ok", reason="ok") == 4
    assert (
        value(m, "gitward_ssh_auth_decisions_total", outcome="denied", reason="key.unknown")
        == denied
    )
    assert value(m, "gitward_ssh_connections_refused_total", reason="penalty") == 1
    # idle + 2 clones + push + denied clone + the stranger's refused connections
    assert value(m, "gitward_ssh_connections_accepted_total") == 5 + denied
    assert (
        value(m, "gitward_certificates_issued_total", organization="obs-acme", ca=ca.fingerprint)
        == 1
    )
    age = value(m, "gitward_connector_last_success_age_seconds", repository="obs-app")
    assert math.isinf(age)  # never succeeded

    # /healthz and /readyz
    health = httpx.get(f"{watched.http_url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(f"{watched.http_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["failing"] == [] and ready.json()["checks"]["ssh"]["ok"] is True

    # The log: one JSON object a line; decisions carry their audit event's fields.
    lines = [json.loads(line) for line in watched.log().splitlines()]
    auths = [e for e in lines if e["event"] == "ssh_auth"]
    commands = [e for e in lines if e["event"] == "git_command"]
    finished = [e for e in lines if e["event"] == "git_operation_finished"]
    with transaction(admin.engine) as session:
        events = audit.recent_events(session, 1000)
        rows = [
            (e.action, e.target, e.outcome, e.actor, e.peer, json.loads(e.detail))
            for e in events
            if e.action in ("ssh.auth", "git-upload-pack", "git-receive-pack")
        ]
    assert len(auths) == 4 + denied and len(commands) == 4
    assert len(rows) == len(auths) + len(commands)
    for action, target, outcome, actor, peer, detail in rows:
        same = [
            e
            for e in auths + commands
            if (e["action"], e["target"], e["outcome"], e["actor"], e["peer"])
            == (action, target, outcome, actor, peer)
            and all(e.get(k) == v for k, v in detail.items())
        ]
        assert same, f"no log line for the audit event {action} {target} {outcome} {detail}"
    refused = [e for e in auths if e["reason"] == "key.unknown"]
    assert refused and all(e["outcome"] == "denied" and e["peer"] == "127.0.0.1" for e in refused)
    pushes = [e for e in finished if e["action"] == "git-receive-pack"]
    assert len(pushes) == 1 and pushes[0]["bytes_received"] > 1 << 20
    assert pushes[0]["exit_status"] == 0 and pushes[0]["actor"] == "obs-alice"

    # Nothing secret: no private key, no token, no CA secret, no password, no cookie.
    text = watched.log()
    secrets = [token, (watched.data_dir / "ca-secret").read_text().strip(), PASSWORD, wrong]
    secrets += cookies
    for key in (alice.key, stranger.key):
        body = key.read_text().splitlines()[1:-1]
        secrets += [line for line in body if len(line) > 20]
    assert "PRIVATE KEY" not in text
    for secret in secrets:
        assert secret and secret not in text


def test_ok_two_processes_sharing_a_multiproc_dir_report_their_sum(tmp_path: Path) -> None:
    """Two `gitward serve` processes on one database and one PROMETHEUS_MULTIPROC_DIR
    (what a supervisor running several processes on one machine does): a scrape of
    either counts the clones served by both."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**server_env(), "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    data = tmp_path / "data"
    first = Server(data, env).start()
    try:
        second = Server(data, env).start()
        try:
            settings = Settings(data_dir=data, hostname=HOSTNAME, ssh_port=first.port)
            admin = open_context(settings)
            accounts.create_user(admin, "mp-alice")
            repositories.create_repo(admin, "mp-alice/app")
            alice = _client(first, tmp_path / "alice")
            accounts.add_key(admin, "mp-alice", Path(f"{alice.key}.pub").read_bytes())
            admin.engine.dispose()
            assert alice.clone("mp-alice/app").code == 0
            assert alice.clone("mp-alice/app", "again").code == 0
            alice.server = second
            assert alice.clone("mp-alice/app", "third").code == 0
            for srv in (first, second):
                m = scrape(srv)
                ok = {"service": "git-upload-pack", "outcome": "ok"}
                assert value(m, "gitward_git_operations_total", **ok) == 3
                assert value(m, "gitward_ssh_connections_accepted_total") == 3
        finally:
            second.stop()
    finally:
        first.stop()
