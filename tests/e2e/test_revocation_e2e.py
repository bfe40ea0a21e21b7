"""Revocation and CA retirement are enforced on the next connection (issues 4 and 5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from gitward.services import accounts, authorities, orgs, repositories, revocation
from gitward.services.context import Context
from gitward.services.managed_ca import retire_ca
from tests.e2e.harness import HOSTNAME, Client, keygen, sign

MakeClient = Callable[..., Client]


def _org_with_ca(admin: Context, tmp_path: Path, tag: str) -> tuple[str, Path, str]:
    org = orgs.create_org(admin, f"{tag}-org")
    accounts.create_user(admin, f"{tag}-alice")
    orgs.add_member(admin, org.name, f"{tag}-alice")
    repositories.create_repo(admin, f"{org.name}/app")
    ca = keygen(tmp_path / f"{tag}_ca")
    view = authorities.add_ca(admin, Path(f"{ca}.pub").read_bytes(), org=org.name)
    return org.name, ca, view.fingerprint


def _cert_client(make_client: MakeClient, ca: Path, user: str, *opts: str) -> Client:
    client = make_client()
    client.cert = sign(
        ca, client.key, "-V", "+1h", "-O", f"extension:login@{HOSTNAME}={user}", *opts
    )
    return client


def test_fail_revoked_serial_key_id_and_key(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    org, ca, ca_fp = _org_with_ca(admin, tmp_path, "rv1")
    by_serial = _cert_client(make_client, ca, "rv1-alice", "-z", "42")
    by_key_id = _cert_client(make_client, ca, "rv1-alice", "-z", "43")
    by_key = _cert_client(make_client, ca, "rv1-alice", "-z", "44")
    for client in (by_serial, by_key_id, by_key):
        assert client.clone(f"{org}/app").code == 0
    revocation.revoke_serial(admin, 42, ca_fp)
    revocation.revoke_key_id(admin, "test-cert", ca_fp)  # harness's -I for every cert
    revocation.revoke_key(admin, Path(f"{by_key.key}.pub").read_bytes())
    for client in (by_serial, by_key_id, by_key):
        result = client.clone(f"{org}/app")
        assert "ERROR: This SSH certificate has been revoked." in result.err, result.err


def test_fail_revoked_plain_key_says_revoked(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    org, _, _ = _org_with_ca(admin, tmp_path, "rv2")
    plain = make_client()
    accounts.add_key(admin, "rv2-alice", Path(f"{plain.key}.pub").read_bytes())
    assert plain.clone(f"{org}/app").code == 0
    revocation.revoke_key(admin, Path(f"{plain.key}.pub").read_bytes())
    assert "ERROR: This SSH key has been revoked." in plain.clone(f"{org}/app").err


def test_fail_revoked_ca_key_trusts_nothing(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    org, ca, _ = _org_with_ca(admin, tmp_path, "rv3")
    client = _cert_client(make_client, ca, "rv3-alice")
    assert client.clone(f"{org}/app").code == 0
    revocation.revoke_key(admin, Path(f"{ca}.pub").read_bytes())
    assert "Permission denied (publickey)" in client.clone(f"{org}/app").err


def test_ok_retired_managed_ca_overlaps_then_stops(
    admin: Context, make_client: MakeClient, tmp_path: Path
) -> None:
    org, ca, ca_fp = _org_with_ca(admin, tmp_path, "rv4")
    client = _cert_client(make_client, ca, "rv4-alice")
    retire_ca(admin, ca_fp, admin.now() + dt.timedelta(days=7))
    assert client.clone(f"{org}/app").code == 0  # inside the overlap window
    retire_ca(admin, ca_fp, admin.now() - dt.timedelta(seconds=1))
    assert "Permission denied (publickey)" in client.clone(f"{org}/app").err
