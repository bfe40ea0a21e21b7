"""`gitward ca create|retire|max-lifetime`, `gitward cert list|revoke`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gitward.services.issuing import Issuer, IssueRequest
from tests.cli.issuing_helpers import IssuingGitward, write
from tests.services.issuing_world import public_line


@pytest.fixture
def gw(database_url: str, tmp_path: Path) -> IssuingGitward:
    return IssuingGitward(tmp_path / "data", database_url)


def issue(gw: IssuingGitward, token: str, line: str | None = None) -> dict[str, object]:
    with gw.context() as ctx:
        return Issuer(ctx).issue(token, IssueRequest(line or public_line())).to_json()


def test_ok_ca_create_trusts_the_new_ca(gw: IssuingGitward) -> None:
    gw.ok("org", "create", "acme")
    made = gw.ok(
        "ca", "create", "--org", "acme", "--type", "ecdsa", "--title", "2026", "--json"
    ).json()
    assert made["managed"] is True and made["key_type"] == "ecdsa-sha2-nistp256"
    listed = gw.ok("ca", "list", "--json").json()
    assert [c["fingerprint"] for c in listed] == [made["fingerprint"]]
    text = gw.ok("ca", "create", "--org", "acme").out
    assert text.startswith("created certificate authority SHA256:")
    assert text.splitlines()[1].startswith("ssh-ed25519 ")
    if gw.database_url.startswith("sqlite"):
        secret = gw.data_dir / "ca-secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_fail_ca_create_needs_one_owner(gw: IssuingGitward) -> None:
    assert "exactly one owner" in gw.refused("ca", "create")
    assert "no organization named" in gw.refused("ca", "create", "--org", "nope")


def test_fail_ca_create_on_postgres_without_secret(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite generates the secret")
    from tests.cli.conftest import Gitward

    plain = Gitward(tmp_path / "data", database_url)
    plain.ok("org", "create", "acme")
    assert "GITWARD_CA_SECRET_FILE" in plain.refused("ca", "create", "--org", "acme")


def test_ok_retire_and_max_lifetime(gw: IssuingGitward) -> None:
    world = gw.world()
    out = gw.ok("ca", "retire", world["ca"], "--at", "2030-01-01").out
    assert "retires at 2030-01-01T00:00:00+00:00" in out
    assert (
        gw.ok("ca", "retire", world["ca"], "--at", "2030-01-01T12:00:00+02:00", "--json").json()[
            "retired_at"
        ]
        == "2030-01-01T10:00:00+00:00"
    )
    assert "at most 43200 seconds" in gw.ok("ca", "max-lifetime", "acme", "12h").out
    assert "at most 86400 seconds" in gw.ok("ca", "max-lifetime", "acme").out
    assert "365 days" in gw.refused("ca", "max-lifetime", "acme", "400d")
    assert "needs a zone" in gw.refused("ca", "retire", world["ca"], "--at", "2030-01-01T10:00")


def test_ok_cert_list_filters(gw: IssuingGitward) -> None:
    world = gw.world()
    gw.ok("user", "create", "bob")
    gw.ok("org", "member", "add", "acme", "bob")
    bob = gw.ok("token", "create", "bob").out.strip()
    a = issue(gw, world["token"])
    b = issue(gw, bob)
    every = gw.ok("cert", "list", "--json").json()
    assert [c["serial"] for c in every] == [b["serial"], a["serial"]]  # newest first
    assert every[1]["public_key_fingerprint"] and every[1]["certificate_fingerprint"]
    assert every[1]["extensions"]["login@git.example.com"] == "alice"
    only_alice = gw.ok("cert", "list", "--user", "alice", "--json").json()
    assert [c["key_id"] for c in only_alice] == [a["key_id"]]
    assert len(gw.ok("cert", "list", "--ca", world["ca"], "--json").json()) == 2
    assert gw.ok("cert", "list", "--ca", "SHA256:" + "A" * 43, "--json").json() == []
    assert len(gw.ok("cert", "list", "--valid-now", "--json").json()) == 2
    text = gw.ok("cert", "list").out.splitlines()
    assert text[0].startswith(f"{b['serial']}\t{b['key_id']}\tbob\t")


def test_ok_cert_revoke_forms(gw: IssuingGitward, tmp_path: Path) -> None:
    world = gw.world()
    cert = issue(gw, world["token"])
    out = gw.ok("cert", "revoke", "--serial", str(cert["serial"]), "--ca", world["ca"]).out
    assert out.strip() == f"revoked serial {cert['serial']} of CA {world['ca']}"
    again = gw.ok("cert", "revoke", "--serial", str(cert["serial"]), "--ca", world["ca"]).out
    assert "already revoked" in again
    assert "every CA" in gw.ok("cert", "revoke", "--key-id", "alice-9").out
    key = write(tmp_path / "k.pub", public_line() + "\n")
    assert gw.ok("cert", "revoke", "--key", str(key), "--json").json()["kind"] == "key"
    ca_key = write(tmp_path / "ca.pub", world["ca_public_key"] + "\n")
    assert "revoked certificate authority" in gw.ok("cert", "revoke", "--key", str(ca_key)).out
    cert_file = write(tmp_path / "c-cert.pub", str(cert["certificate"]) + "\n")
    assert "revoked certificate SHA256:" in gw.ok("cert", "revoke", "--key", str(cert_file)).out
    unknown = gw.ok("cert", "revoke", "--key-id", "x", "--ca", "SHA256:" + "A" * 43).out
    assert "not registered here" in unknown


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("fail/nothing", ()),
        ("fail/two_forms", ("--serial", "1", "--key-id", "x", "--ca", "SHA256:x")),
        ("fail/serial_without_ca", ("--serial", "1")),
        ("fail/key_with_ca", ("--key", "k.pub", "--ca", "SHA256:x")),
    ],
)
def test_fail_cert_revoke_usage(gw: IssuingGitward, name: str, args: tuple[str, ...]) -> None:
    assert gw("cert", "revoke", *args).code == 2, name


def test_fail_cert_revoke_refusals(gw: IssuingGitward, tmp_path: Path) -> None:
    assert "invalid serial" in gw.refused("cert", "revoke", "--serial", "x", "--ca", "SHA256:a")
    assert "SHA256:" in gw.refused("cert", "revoke", "--serial", "3", "--ca", "MD5:ab")
    bad = write(tmp_path / "bad.pub", "not a key\n")
    assert "not an SSH public key" in gw.refused("cert", "revoke", "--key", str(bad))
