"""`gitward krl export|import`, with live ssh-keygen where installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitward.ca.certificate import parse_certificate_line
from gitward.services import revocation
from gitward.services.issuing import Issuer, IssueRequest
from gitward.store.db import transaction
from gitward.store.queries import keys
from tests.cli.issuing_helpers import IssuingGitward, write
from tests.services.issuing_world import public_line

VECTORS = Path(__file__).parent.parent / "vectors" / "krl"
needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen"
)


@pytest.fixture
def gw(database_url: str, tmp_path: Path) -> IssuingGitward:
    return IssuingGitward(tmp_path / "data", database_url)


def test_ok_import_vector_and_export(gw: IssuingGitward, tmp_path: Path) -> None:
    imported = gw.ok("krl", "import", str(VECTORS / "mixed.krl"))
    assert imported.out.strip() == "imported 7 revocations (0 already present)"
    assert imported.err.count("is not registered here") == 2
    again = gw.ok("krl", "import", str(VECTORS / "mixed.krl"), "--json").json()
    assert again["added"] == 0 and again["already_revoked"] == 7
    out = tmp_path / "out.krl"
    summary = gw.ok("krl", "export", "-o", str(out), "--json").json()
    assert summary == {"file": str(out), "entries": 7, "skipped": 0}
    assert out.read_bytes().startswith(b"SSHKRL\n\0")


@pytest.mark.parametrize("name", ["fail/truncated", "fail/garbage", "fail/missing"])
def test_fail_import_refused_and_nothing_changes(
    gw: IssuingGitward, tmp_path: Path, name: str
) -> None:
    gw.ok("cert", "revoke", "--key-id", "before")
    path = {
        "fail/truncated": VECTORS / "truncated.krl",
        "fail/garbage": write(tmp_path / "g.krl", "hello"),
        "fail/missing": tmp_path / "nope.krl",
    }[name]
    line = gw.refused("krl", "import", str(path))
    assert "cannot read" in line if name == "fail/missing" else "nothing was imported" in line
    out = tmp_path / "check.krl"
    assert gw.ok("krl", "export", "-o", str(out), "--json").json()["entries"] == 1


@needs_ssh_keygen
def test_ok_export_is_enforced_by_ssh_keygen(gw: IssuingGitward, tmp_path: Path) -> None:
    world = gw.world()
    with gw.context() as ctx:
        certs = [
            parse_certificate_line(
                Issuer(ctx).issue(world["token"], IssueRequest(public_line())).issued.certificate
            )
            for _ in range(2)
        ]
    revoked, kept = certs
    gw.ok("cert", "revoke", "--serial", str(revoked.serial), "--ca", world["ca"])
    krl = tmp_path / "revoked.krl"
    gw.ok("krl", "export", "--ca", world["ca"], "-o", str(krl))
    for cert, expected in ((revoked, "REVOKED"), (kept, "ok")):
        path = write(tmp_path / f"s{cert.serial}-cert.pub", cert.to_line() + "\n")
        result = subprocess.run(
            ["ssh-keygen", "-Q", "-f", str(krl), str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.stdout.strip().endswith(f": {expected}"), result


@needs_ssh_keygen
def test_ok_import_of_ssh_keygen_k_is_enforced(gw: IssuingGitward, tmp_path: Path) -> None:
    world = gw.world()
    with gw.context() as ctx:
        cert = parse_certificate_line(
            Issuer(ctx).issue(world["token"], IssueRequest(public_line())).issued.certificate
        )
    ca_pub = write(tmp_path / "ca.pub", world["ca_public_key"] + "\n")
    spec = write(tmp_path / "spec", f"id: {cert.key_id}\n")
    krl = tmp_path / "made.krl"
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(krl), "-s", str(ca_pub), str(spec)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    gw.ok("krl", "import", str(krl))
    with gw.context() as ctx, transaction(ctx.engine) as session:
        ca = keys.ca_by_fingerprint(session, world["ca"])
        assert ca is not None
        facts = revocation.revocation_facts_for(session, cert, ca.id)
    assert facts.key_ids == {cert.key_id}
