"""Revocation: what `cert revoke` records, what the SSH server asks, KRL import/export."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import event

from gitward.ca.certificate import Certificate, parse_certificate_line
from gitward.ca.krl import decode_krl
from gitward.errors import GitwardError, InvalidInput
from gitward.services import krl, revocation
from gitward.services.context import Context
from gitward.services.issuing import Issuer, IssueRequest
from gitward.store.db import transaction
from gitward.store.queries import keys
from tests.services.issuing_world import World, build_world, public_line, with_secret

VECTORS = Path(__file__).parent.parent / "vectors" / "krl"


@pytest.fixture
def world(ctx: Context) -> World:
    return build_world(with_secret(ctx))


def issue(world: World, line: str | None = None) -> Certificate:
    got = Issuer(world.ctx).issue(world.alice_token, IssueRequest(line or public_line()))
    return parse_certificate_line(got.issued.certificate)


def facts(world: World, cert: Certificate) -> revocation.RevocationFacts:
    with transaction(world.ctx.engine) as session:
        ca = keys.ca_by_fingerprint(session, world.ca.fingerprint)
        assert ca is not None
        return revocation.revocation_facts_for(session, cert, ca.id)


def test_ok_nothing_revoked(world: World) -> None:
    assert facts(world, issue(world)) == revocation.RevocationFacts()


def test_ok_serial_under_its_ca_only(world: World) -> None:
    cert, other = issue(world), issue(world)
    revocation.revoke_serial(world.ctx, cert.serial, world.ca.fingerprint)
    assert facts(world, cert).serials == {cert.serial}
    assert facts(world, other) == revocation.RevocationFacts()
    # The same serial under some other CA revokes nothing here.
    revocation.revoke_serial(world.ctx, other.serial, "SHA256:" + "A" * 43)
    assert facts(world, other) == revocation.RevocationFacts()


@pytest.mark.parametrize("scoped", [True, False], ids=["ok/one_ca", "ok/every_ca"])
def test_ok_key_id(world: World, scoped: bool) -> None:
    cert = issue(world)
    revocation.revoke_key_id(world.ctx, cert.key_id, world.ca.fingerprint if scoped else None)
    assert facts(world, cert).key_ids == {cert.key_id}


def test_ok_key_file_revokes_key_everywhere(world: World) -> None:
    line = public_line()
    cert = issue(world, line)
    view = revocation.revoke_key(world.ctx, line.encode())
    assert view.description.startswith("key SHA256:")
    assert facts(world, cert).key_fingerprints == {cert.public_key_fingerprint}
    with transaction(world.ctx.engine) as session:
        assert revocation.key_revoked(session, cert.public_key_fingerprint)
        assert not revocation.key_revoked(session, "SHA256:" + "B" * 43)


def test_ok_certificate_file_revokes_that_certificate(world: World) -> None:
    line = public_line()
    cert, sibling = issue(world, line), issue(world, line)  # same key, two certificates
    revocation.revoke_key(world.ctx, (cert.to_line() + "\n").encode())
    assert facts(world, cert).certificate_fingerprints == {cert.fingerprint}
    assert facts(world, sibling) == revocation.RevocationFacts()


def test_ok_ca_key_revokes_the_ca(world: World) -> None:
    view = revocation.revoke_key(world.ctx, world.ca.public_key.encode())
    assert view.description.startswith("certificate authority")
    with transaction(world.ctx.engine) as session:
        ca = keys.ca_by_fingerprint(session, world.ca.fingerprint)
        assert ca is not None
        assert revocation.ca_revoked(session, ca.id)
        assert revocation.ca_revoked(session, world.ca.fingerprint)
        assert revocation.ca_revoked(session, 999_999)  # removed: trusts nothing


def test_ok_revoking_twice_adds_nothing(world: World) -> None:
    revocation.revoke_key_id(world.ctx, "x-1")
    assert "already revoked" in revocation.revoke_key_id(world.ctx, "x-1").description
    assert len(revocation.list_revocations(world.ctx)) == 1


def test_ok_connection_path_reads_only_matching_rows(world: World) -> None:
    cert = issue(world)
    for n in range(1, 41):  # unrelated revocations the lookup must not load
        revocation.revoke_key_id(world.ctx, f"someone-{n}", world.ca.fingerprint)
    revocation.revoke_serial(world.ctx, cert.serial, world.ca.fingerprint)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(world.ctx.engine, "before_cursor_execute", seen)
    try:
        with transaction(world.ctx.engine) as session:
            ca = keys.ca_by_fingerprint(session, world.ca.fingerprint)
            assert ca is not None
            rows = revocation.queries.matching_certificate(
                session,
                ca_fingerprint=ca.fingerprint,
                serial=cert.serial,
                key_id=cert.key_id,
                key_fingerprints=[cert.public_key_fingerprint],
                certificate_fingerprint=cert.fingerprint,
            )
    finally:
        event.remove(world.ctx.engine, "before_cursor_execute", seen)
    assert len(rows) == 1
    assert all("WHERE" in s for s in statements if "revocations" in s)


@pytest.mark.parametrize(
    ("name", "call", "message"),
    [
        (
            "fail/serial_zero",
            lambda c: revocation.revoke_serial(c, 0, "SHA256:" + "A" * 43),
            "between 1 and",
        ),
        ("fail/bad_fingerprint", lambda c: revocation.revoke_serial(c, 1, "abc"), "SHA256:"),
        ("fail/empty_key_id", lambda c: revocation.revoke_key_id(c, ""), "1 to 1024"),
        ("fail/not_a_key", lambda c: revocation.revoke_key(c, b"hello"), "not an SSH public key"),
        (
            "fail/bad_certificate",
            lambda c: revocation.revoke_key(c, b"ssh-ed25519-cert-v01@openssh.com AAAA"),
            "certificate",
        ),
    ],
)
def test_fail_revoke_input(world: World, name: str, call: object, message: str) -> None:
    with pytest.raises(Exception, match=message) as caught:
        call(world.ctx)  # type: ignore[operator]
    assert isinstance(caught.value, GitwardError), name


# --- KRL ---------------------------------------------------------------------------------


def _fp(path: Path) -> str:
    blob = base64.b64decode(path.read_text().split()[1])
    return revocation.sha256_fingerprint(blob)


def test_ok_import_ssh_keygen_krl(world: World) -> None:
    result = krl.import_krl(world.ctx, (VECTORS / "mixed.krl").read_bytes(), source="mixed.krl")
    assert result.added == 7 and result.already == 0
    assert set(result.unregistered_cas) == {_fp(VECTORS / "ca.pub"), _fp(VECTORS / "other_ca.pub")}
    again = krl.import_krl(world.ctx, (VECTORS / "mixed.krl").read_bytes())
    assert (again.added, again.already) == (0, 7)
    described = {r.description for r in revocation.list_revocations(world.ctx)}
    ca_fp = _fp(VECTORS / "ca.pub")
    assert f"serials 10-20 of CA {ca_fp}" in described
    assert f"serial {2**64 - 1} of CA {ca_fp}" in described  # the full uint64 range fits
    assert f"key id 'carol-1' under CA {_fp(VECTORS / 'other_ca.pub')}" in described
    with transaction(world.ctx.engine) as session:
        assert revocation.key_revoked(session, _fp(VECTORS / "revoked.pub"))
        assert revocation.key_revoked(session, _fp(VECTORS / "hashed.pub"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("fail/truncated", (VECTORS / "truncated.krl").read_bytes(), "damaged"),
        ("fail/not_a_krl", b"hello world", "not an OpenSSH KRL"),
        ("fail/empty", b"", "KRL"),
    ],
)
def test_fail_import_changes_nothing(world: World, name: str, data: bytes, message: str) -> None:
    revocation.revoke_key_id(world.ctx, "before")
    with pytest.raises(InvalidInput, match=message):
        krl.import_krl(world.ctx, data)
    assert [r.key_id for r in revocation.list_revocations(world.ctx)] == ["before"], name


def test_ok_export_roundtrips_through_import(world: World, ctx: Context) -> None:
    cert = issue(world)
    revocation.revoke_serial(world.ctx, cert.serial, world.ca.fingerprint)
    revocation.revoke_key_id(world.ctx, "everywhere-1")
    revocation.revoke_key(world.ctx, public_line().encode())
    revocation.revoke_key(world.ctx, issue(world).to_line().encode())
    exported = krl.export_krl(world.ctx)
    assert (exported.entries, exported.skipped) == (4, 0)
    decoded = decode_krl(exported.data)
    by_ca = {s.ca_key: s for s in decoded.cert_sections}
    assert by_ca[None].key_ids == ("everywhere-1",)
    assert len(decoded.revoked_keys) == 1
    only_other = krl.export_krl(world.ctx, "SHA256:" + "C" * 43)
    assert decode_krl(only_other.data).cert_sections[0].ca_key is None  # the any-CA one


def test_ok_export_skips_serials_of_unknown_ca_keys(world: World) -> None:
    revocation.revoke_serial(world.ctx, 7, "SHA256:" + "D" * 43)
    assert krl.export_krl(world.ctx).skipped == 1


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_ok_ssh_keygen_enforces_the_exported_krl(world: World, tmp_path: Path) -> None:
    revoked, kept = issue(world), issue(world)
    revocation.revoke_serial(world.ctx, revoked.serial, world.ca.fingerprint)
    out = tmp_path / "gitward.krl"
    out.write_bytes(krl.export_krl(world.ctx).data)

    def query(cert: Certificate) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"c{cert.serial}-cert.pub"
        path.write_text(cert.to_line() + "\n")
        return subprocess.run(
            ["ssh-keygen", "-Q", "-f", str(out), str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    bad, good = query(revoked), query(kept)
    assert bad.returncode == 1 and "REVOKED" in bad.stdout
    assert good.returncode == 0 and good.stdout.strip().endswith(": ok")
