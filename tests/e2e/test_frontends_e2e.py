"""Several `gitward serve` processes on one PostgreSQL database and one repository root:
the database is their only shared state (ARCHITECTURE: "a CA removed through one frontend
is refused by every frontend on the next connection")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitward.services import accounts, authorities, orgs, repositories
from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.e2e.harness import HOSTNAME, Client, Server, keygen, server_env, sign


@pytest.fixture
def two_frontends(pg_schema_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server, Context]]:
    data = tmp_path / "shared"
    ctx = open_context(Settings(data_dir=data, database_url=pg_schema_url, hostname=HOSTNAME))
    first = Server(data, server_env(pg_schema_url)).start()
    second = Server(data, server_env(pg_schema_url))
    try:
        second.start()
        yield first, second, ctx
    finally:
        second.stop()
        first.stop()
        ctx.engine.dispose()


def test_ok_ca_removed_through_one_frontend_is_refused_by_every_frontend(
    two_frontends: tuple[Server, Server, Context], tmp_path: Path
) -> None:
    first, second, admin = two_frontends
    orgs.create_org(admin, "acme")
    accounts.create_user(admin, "alice")
    orgs.add_member(admin, "acme", "alice")
    repositories.create_repo(admin, "acme/app")
    ca = keygen(tmp_path / "ca")
    view = authorities.add_ca(admin, Path(f"{ca}.pub").read_bytes(), org="acme")
    home = tmp_path / "alice"
    home.mkdir()
    key = keygen(home / "id_key")
    cert = sign(ca, key, "-V", "+1h", "-O", f"extension:login@{HOSTNAME}=alice")
    clients = [Client(srv, home, key, cert) for srv in (first, second)]
    for client in clients:
        assert client.clone("acme/app", f"before-{client.server.port}").code == 0
    authorities.remove_ca(admin, view.fingerprint)
    for client in clients:
        result = client.clone("acme/app", f"after-{client.server.port}")
        assert "Permission denied (publickey)" in result.err
