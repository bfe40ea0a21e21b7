"""A real HAProxy (Debian's `haproxy`) in front of two `gitward serve` frontends on one
PostgreSQL database and one repository directory, speaking the PROXY protocol (issue 11).

The addresses tell the client from the balancer: the client connects from 127.0.0.1, and
HAProxy connects to the frontends from 127.0.0.3 (`source 127.0.0.3`), the only address
they trust (`proxy_protocol_trusted`). A certificate bound to 127.0.0.1 therefore works
only if the frontends judge the address the PROXY header names, and one bound to 127.0.0.3
(the balancer) must not.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitward.proxy_protocol import V2_SIGNATURE
from gitward.services import accounts, authorities, orgs, repositories
from gitward.services.context import Context, open_context
from gitward.settings import Settings
from gitward.store.db import transaction
from gitward.store.queries.audit import recent_events
from tests.e2e.harness import GITWARD, HOSTNAME, Client, Server, keygen, server_env, sign

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None,
    reason="the load-balancer test needs HAProxy (Debian package haproxy)",
)

BALANCER = "127.0.0.3"  # where HAProxy connects to the frontends from
CLIENT = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_config(frontends: list[Server], v2_port: int, v1_port: int) -> str:
    def servers(option: str) -> str:
        return "".join(
            f"  server gw{i} 127.0.0.1:{srv.port} {option} source {BALANCER}\n"
            for i, srv in enumerate(frontends)
        )

    return (
        "global\n  maxconn 512\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n"
        "  timeout server 60s\n"
        f"frontend ssh_v2\n  bind 127.0.0.1:{v2_port}\n  default_backend gitward_v2\n"
        f"frontend ssh_v1\n  bind 127.0.0.1:{v1_port}\n  default_backend gitward_v1\n"
        f"backend gitward_v2\n  balance roundrobin\n{servers('send-proxy-v2')}"
        f"backend gitward_v1\n  balance roundrobin\n{servers('send-proxy')}"
    )


@dataclass
class Site:
    frontends: list[Server]
    v2: Server  # the balancer's ports, as clients see them (host keys from the shared dir)
    v1: Server
    admin: Context
    data: Path
    env: dict[str, str]


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("haproxy exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("haproxy did not listen")


@pytest.fixture
def site(pg_schema_url: str, tmp_path: Path) -> Iterator[Site]:
    data = tmp_path / "shared"
    admin = open_context(Settings(data_dir=data, database_url=pg_schema_url, hostname=HOSTNAME))
    env = server_env(pg_schema_url, proxy_protocol_trusted=f"{BALANCER}/32")
    # Penalties and per-source limits as in production, but for the test's own address.
    env["GITWARD_PENALTY_EXEMPT"] = ""
    frontends = [Server(data, env)]
    proc: subprocess.Popen[bytes] | None = None
    try:
        frontends[0].start()
        frontends.append(Server(data, env).start())
        v2_port, v1_port = free_port(), free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(haproxy_config(frontends, v2_port, v1_port))
        checked = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True)
        assert checked.returncode == 0, checked.stderr.decode()
        with (tmp_path / "haproxy.log").open("wb") as log:
            proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=log)
        wait_listening(v2_port, proc)
        wait_listening(v1_port, proc)
        yield Site(frontends, Server(data, env, port=v2_port), Server(data, env, port=v1_port),
                   admin, data, env)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        for srv in reversed(frontends):
            srv.stop()
        admin.engine.dispose()


def setup_acme(admin: Context, ca_pub: Path) -> str:
    orgs.create_org(admin, "acme")
    accounts.create_user(admin, "alice")
    orgs.add_member(admin, "acme", "alice")
    repositories.create_repo(admin, "acme/app")
    return authorities.add_ca(admin, ca_pub.read_bytes(), org="acme").fingerprint


def certificate(ca: Path, home: Path, name: str, source_address: str) -> tuple[Path, Path]:
    key = keygen(home / name)
    login = f"extension:login@{HOSTNAME}=alice"
    options = ("-V", "+1h", "-O", login, "-O", f"source-address={source_address}")
    return key, sign(ca, key, *options)


def accepted_on(srv: Server, offset: int) -> int:
    """How many git commands this frontend accepted from the client's address since."""
    text = srv.log_since(offset)
    return sum(
        1
        for line in text.splitlines()
        if "git_command" in line and re.search(r"\bok\b", line)
        and re.search(rf"peer\W+{re.escape(CLIENT)}\b", line)
    )


def test_ok_clones_through_haproxy_land_on_both_frontends_with_the_clients_address(
    site: Site, tmp_path: Path
) -> None:
    ca = keygen(tmp_path / "ca")
    setup_acme(site.admin, Path(f"{ca}.pub"))
    home = tmp_path / "alice"
    home.mkdir()
    key, cert = certificate(ca, home, "id_here", f"{CLIENT}/32")
    offsets = [srv.log_size() for srv in site.frontends]
    for balancer in (site.v2, site.v1):
        client = Client(balancer, home, key, cert)
        for i in range(4):
            result = client.clone("acme/app", f"clone-{balancer.port}-{i}")
            assert result.code == 0, result.err
    landed = [accepted_on(srv, off) for srv, off in zip(site.frontends, offsets, strict=True)]
    assert sum(landed) == 8 and all(n >= 2 for n in landed), landed  # roundrobin, v1 and v2
    with transaction(site.admin.engine) as session:
        peers = {e.peer for e in recent_events(session, 200) if e.action == "ssh.auth"}
    assert peers == {CLIENT}  # never the balancer's 127.0.0.3
    # A client that reaches a frontend directly, from an address not trusted, is served.
    direct = Client(site.frontends[0], home, key, cert).clone("acme/app", "direct-clone")
    assert direct.code == 0, direct.err


def test_fail_certificate_bound_elsewhere_is_refused_through_haproxy(
    site: Site, tmp_path: Path
) -> None:
    ca = keygen(tmp_path / "ca")
    setup_acme(site.admin, Path(f"{ca}.pub"))
    home = tmp_path / "alice"
    home.mkdir()
    for name, bound in [("elsewhere", "10.9.9.9/32"), ("balancer", f"{BALANCER}/32")]:
        key, cert = certificate(ca, home, name, bound)
        for balancer in (site.v2, site.v1):
            result = Client(balancer, home, key, cert).clone("acme/app", f"{name}-{balancer.port}")
            assert result.code != 0
            assert "ERROR: " in result.err and "address" in result.err, result.err


def test_fail_penalties_fall_on_the_client_behind_haproxy_not_on_haproxy(
    site: Site, tmp_path: Path
) -> None:
    ca = keygen(tmp_path / "ca")
    setup_acme(site.admin, Path(f"{ca}.pub"))
    home = tmp_path / "alice"
    home.mkdir()
    key, cert = certificate(ca, home, "id_ok", f"{CLIENT}/32")
    stranger_home = tmp_path / "mallory"
    stranger_home.mkdir()
    stranger = Client(site.v2, stranger_home, keygen(stranger_home / "id_unknown"),
                      extra_ssh=("-o", "BindAddress=127.0.0.2"))
    offsets = [srv.log_size() for srv in site.frontends]
    for _ in range(12):  # unknown key, over and over, from 127.0.0.2 through the balancer
        assert stranger.ssh().code != 0
    refused = stranger.ssh()
    assert refused.code == 255 and "Permission denied" not in refused.err, refused.err
    for srv, offset in zip(site.frontends, offsets, strict=True):
        assert re.search(r"connection_refused.*peer\W+127\.0\.0\.2\b", srv.log_since(offset))
    # The balancer itself and every other client behind it are not affected.
    result = Client(site.v2, home, key, cert).clone("acme/app", "after-penalty")
    assert result.code == 0, result.err


def test_fail_proxy_header_from_an_untrusted_address_is_dropped(site: Site) -> None:
    frontend = site.frontends[0]
    offset = frontend.log_size()
    # Straight to a frontend from 127.0.0.1, which it does not trust, claiming 10.9.9.9.
    block = bytes([10, 9, 9, 9, 127, 0, 0, 1]) + struct.pack("!HH", 4242, 22)
    header = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(block)) + block
    for claim in (header, b"PROXY TCP4 10.9.9.9 127.0.0.1 4242 22\r\n"):
        with socket.create_connection((CLIENT, frontend.port), timeout=10) as sock:
            sock.sendall(claim + b"SSH-2.0-OpenSSH_9.2\r\n")
            received = read_until_closed(sock)
        assert received.startswith(b"SSH-2.0-")  # the server spoke first, then hung up
        assert received[-2:] == b"\r\n" and received.count(b"\r\n") == 1
    assert frontend.log_since(offset).count("proxy_header_untrusted") == 2


def test_fail_trusted_address_without_a_header_is_dropped(site: Site) -> None:
    frontend = site.frontends[1]
    offset = frontend.log_size()
    with socket.socket() as sock:
        sock.bind((BALANCER, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", frontend.port))
        sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        assert read_until_closed(sock) == b""  # not even the server's banner
    assert "proxy_header_invalid" in frontend.log_since(offset)


def test_ok_ca_removed_through_one_frontend_is_refused_by_both(
    site: Site, tmp_path: Path
) -> None:
    ca = keygen(tmp_path / "ca")
    fingerprint = setup_acme(site.admin, Path(f"{ca}.pub"))
    home = tmp_path / "alice"
    home.mkdir()
    key, cert = certificate(ca, home, "id_ca", f"{CLIENT}/32")
    client = Client(site.v2, home, key, cert)
    offsets = [srv.log_size() for srv in site.frontends]
    for i in range(2):
        assert client.clone("acme/app", f"before-{i}").code == 0
    assert all(accepted_on(s, o) == 1 for s, o in zip(site.frontends, offsets, strict=True))
    # The admin CLI, on the database the frontends share.
    removed = subprocess.run(
        [str(GITWARD), "ca", "remove", fingerprint, "--data-dir", str(site.data)],
        capture_output=True,
        env=site.env,
        check=False,
    )
    assert removed.returncode == 0, removed.stderr.decode()
    offsets = [srv.log_size() for srv in site.frontends]
    for i in range(2):
        result = client.clone("acme/app", f"after-{i}")
        assert "Permission denied (publickey)" in result.err, result.err
    for srv, offset in zip(site.frontends, offsets, strict=True):
        assert re.search(rf"ssh_auth.*denied.*peer\W+{re.escape(CLIENT)}\b|"
                         rf"ssh_auth.*peer\W+{re.escape(CLIENT)}\b.*denied",
                         srv.log_since(offset)), srv.log_since(offset)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data
