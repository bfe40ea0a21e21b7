"""The issuing service: tokens, managed CAs, certificates for oneself, refusals."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest

from gitward.ca.certificate import parse_certificate_line, verify_certificate_signature
from gitward.errors import (
    ConfigurationError,
    GitwardError,
    InvalidInput,
    KeyFormatError,
    KeyRejected,
    PermissionDenied,
)
from gitward.keys.api import export_private_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, managed_ca, orgs, revocation, tokens
from gitward.services.context import Context
from gitward.services.issuing import (
    Issuer,
    IssueRequest,
    LifetimeTooLong,
    NoManagedCA,
    OptionNotAllowed,
)
from tests.services.conftest import NOW
from tests.services.issuing_world import World, build_world, public_line, with_secret


@pytest.fixture
def world(ctx: Context) -> World:
    return build_world(with_secret(ctx))


def issue(world: World, token: str | None = None, **kw: object) -> dict[str, object]:
    request = IssueRequest(public_key=kw.pop("public_key", public_line()), **kw)  # type: ignore[arg-type]
    return Issuer(world.ctx).issue(token or world.alice_token, request).to_json()


def test_ok_certificate_names_its_user_and_verifies(world: World) -> None:
    got = issue(world, peer="192.0.2.7")
    cert = parse_certificate_line(str(got["certificate"]))
    assert verify_certificate_signature(cert)
    assert cert.is_user_certificate
    assert cert.signature_key_fingerprint == world.ca.fingerprint
    user_id = accounts.list_users(world.ctx)[0].id
    assert dict(cert.extensions) == {
        "id@git.example.com": str(user_id),
        "login@git.example.com": "alice",
        "permit-X11-forwarding": "",
        "permit-agent-forwarding": "",
        "permit-port-forwarding": "",
        "permit-pty": "",
        "permit-user-rc": "",
    }
    assert dict(cert.critical_options) == {}
    assert cert.principals == ("alice",)
    assert cert.key_id == f"alice-{cert.serial}" and cert.serial == got["serial"]
    now = int(NOW.timestamp())
    # Backdated like ssh-keygen -V +1d: start of the minute at least 59 s ago; 24 h cap.
    assert cert.valid_after == ((now - 59) // 60) * 60
    assert cert.valid_before == now + 86400
    org_id = orgs.list_orgs(world.ctx)[0].id
    assert got["organization"] == {"id": org_id, "name": "acme"}
    assert got["clone_prefix"] == f"org-{org_id}@git.example.com"
    assert got["requester_address"] == "192.0.2.7"


def test_ok_serials_are_unique_and_recorded(world: World) -> None:
    serials = {issue(world)["serial"] for _ in range(5)}
    assert len(serials) == 5
    listed = Issuer(world.ctx).list_for(world.alice_token)
    assert {v.serial for v in listed} == serials
    assert all(v.user == "alice" and v.ca_fingerprint == world.ca.fingerprint for v in listed)
    assert Issuer(world.ctx).list_for(world.bob_token) == []  # only one's own


def test_ok_site_admin_lists_everyones(world: World) -> None:
    issue(world)
    accounts.create_user(world.ctx, "sysop", site_admin=True)
    root = tokens.create_token(world.ctx, "sysop", scopes=("cert:read",)).token
    assert [v.user for v in Issuer(world.ctx).list_for(root)] == ["alice"]


@pytest.mark.parametrize(
    ("name", "kw", "critical"),
    [
        (
            "ok/bind_source_address",
            {"bind_source_address": True, "peer": "::ffff:192.0.2.7"},
            {"source-address": "192.0.2.7"},
        ),
        (
            "ok/source_address_option",
            {"options": ("source-address=10.0.0.0/8",)},
            {"source-address": "10.0.0.0/8"},
        ),
        (
            "ok/force_command",
            {"options": ("force-command=git-upload-pack 'acme/app'",)},
            {"force-command": "git-upload-pack 'acme/app'"},
        ),
    ],
)
def test_ok_restrictions(
    world: World, name: str, kw: dict[str, object], critical: dict[str, str]
) -> None:
    cert = parse_certificate_line(str(issue(world, **kw)["certificate"]))
    assert dict(cert.critical_options) == critical, name


def test_ok_no_pty_removes_the_extension(world: World) -> None:
    cert = parse_certificate_line(str(issue(world, options=("no-pty",))["certificate"]))
    assert "permit-pty" not in cert.extensions and "login@git.example.com" in cert.extensions


def test_ok_validity_within_the_cap(world: World) -> None:
    managed_ca.set_max_lifetime(world.ctx, "acme", 7 * 86400)
    cert = parse_certificate_line(str(issue(world, validity="+3d")["certificate"]))
    assert cert.valid_before == int(NOW.timestamp()) + 3 * 86400


def test_ok_org_is_inferred_when_only_one_issues(world: World) -> None:
    orgs.create_org(world.ctx, "other")
    orgs.add_member(world.ctx, "other", "alice")  # no managed CA: not a candidate
    assert issue(world)["organization"]["name"] == "acme"  # type: ignore[index]


def test_ok_newest_active_ca_signs_and_retired_one_stops(world: World) -> None:
    ctx = world.ctx
    newer = managed_ca.create_managed_ca(_later(ctx, 1), org="acme", key_type="ecdsa")
    issued = Issuer(_later(ctx, 2)).issue(world.alice_token, IssueRequest(public_line()))
    assert issued.issued.ca_fingerprint == newer.fingerprint
    managed_ca.retire_ca(ctx, newer.fingerprint, NOW)
    issued = Issuer(_later(ctx, 2)).issue(world.alice_token, IssueRequest(public_line()))
    assert issued.issued.ca_fingerprint == world.ca.fingerprint


def test_ok_certificate_never_outlives_its_ca_retirement(world: World) -> None:
    retire_at = NOW + dt.timedelta(hours=2)
    managed_ca.retire_ca(world.ctx, world.ca.fingerprint, retire_at)
    cert = parse_certificate_line(str(issue(world)["certificate"]))
    assert cert.valid_before == int(retire_at.timestamp())


def test_ok_enterprise_ca_signs_for_its_organizations(ctx: Context) -> None:
    ctx = with_secret(ctx)
    accounts.create_user(ctx, "carol")
    orgs.create_enterprise(ctx, "megacorp")
    orgs.create_org(ctx, "unit", enterprise="megacorp")
    orgs.add_member(ctx, "unit", "carol")
    ca = managed_ca.create_managed_ca(ctx, enterprise="megacorp", key_type="rsa")
    token = tokens.create_token(ctx, "carol").token
    got = Issuer(ctx).issue(token, IssueRequest(public_line(), organization="unit"))
    cert = parse_certificate_line(got.issued.certificate)
    assert cert.signature_key_fingerprint == ca.fingerprint
    assert cert.signature_algorithm == "rsa-sha2-512"


def _later(ctx: Context, seconds: int) -> Context:
    import dataclasses

    return dataclasses.replace(ctx, clock=lambda: NOW + dt.timedelta(seconds=seconds))


FAILURES = [
    ("fail/no_token", {"token": ""}, tokens.Unauthenticated, "authentication required"),
    ("fail/unknown_token", {"token": "gwp_" + "A" * 43}, tokens.Unauthenticated, "not valid"),
    ("fail/malformed_token", {"token": "hunter2"}, tokens.Unauthenticated, "not valid"),
    (
        "fail/not_member",
        {"token": "bob", "organization": "acme"},
        PermissionDenied,
        "not a member of an organization named 'acme'",
    ),
    (
        "fail/no_such_org_looks_the_same",
        {"organization": "nope"},
        PermissionDenied,
        "not a member of an organization named 'nope'",
    ),
    ("fail/private_key", {"public_key": "private"}, KeyRejected, "this is a private key"),
    ("fail/certificate", {"public_key": "cert"}, KeyRejected, "this is an SSH certificate"),
    ("fail/not_a_key", {"public_key": "hello"}, KeyFormatError, "not an SSH public key"),
    ("fail/weak_rsa", {"public_key": "rsa1024"}, KeyRejected, "at least 2048 bits"),
    ("fail/too_long", {"validity": "2d"}, LifetimeTooLong, r"longer than acme allows \(1d\)"),
    ("fail/too_short", {"validity": "30s"}, InvalidInput, "at least one minute"),
    ("fail/bad_validity", {"validity": "forever"}, InvalidInput, "invalid validity"),
    ("fail/permit_option", {"options": ("permit-pty",)}, OptionNotAllowed, "not allowed"),
    (
        "fail/custom_extension",
        {"options": ("extension:login@git.example.com=root",)},
        OptionNotAllowed,
        "not allowed",
    ),
    (
        "fail/bad_source_address",
        {"options": ("source-address=example.com",)},
        OptionNotAllowed,
        "source-address",
    ),
    (
        "fail/bind_and_source",
        {"bind_source_address": True, "peer": "192.0.2.1", "options": ("source-address=10.0.0.1",)},
        OptionNotAllowed,
        "not both",
    ),
]


@pytest.mark.parametrize(("name", "kw", "error", "message"), FAILURES, ids=[f[0] for f in FAILURES])
def test_fail_refusals(
    world: World, name: str, kw: dict[str, object], error: type[GitwardError], message: str
) -> None:
    kw = dict(kw)
    token = kw.pop("token", None)
    if token == "bob":
        token = world.bob_token
    key = kw.get("public_key")
    if key == "private":
        kw["public_key"] = export_private_key(generate_key("ed25519"), "openssh").decode()
    elif key == "cert":
        kw["public_key"] = issue(world)["certificate"]
    elif key == "rsa1024":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
        kw["public_key"] = weak.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
    request = IssueRequest(public_key=str(kw.pop("public_key", public_line())), **kw)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        Issuer(world.ctx).issue(world.alice_token if token is None else str(token), request)


def test_fail_expired_token(world: World) -> None:
    short = tokens.create_token(world.ctx, "alice", expires="1h").token
    later = _later(world.ctx, 3601)
    with pytest.raises(tokens.Unauthenticated, match="expired"):
        Issuer(later).issue(short, IssueRequest(public_line()))


def test_fail_revoked_token(world: World) -> None:
    made = tokens.create_token(world.ctx, "alice")
    tokens.revoke_token(world.ctx, made.view.id)
    with pytest.raises(tokens.Unauthenticated, match="not valid"):
        Issuer(world.ctx).issue(made.token, IssueRequest(public_line()))


def test_fail_wrong_scope(world: World) -> None:
    reader = tokens.create_token(world.ctx, "alice", scopes=("cert:read",)).token
    with pytest.raises(tokens.InsufficientScope, match="lacks the cert:issue scope"):
        Issuer(world.ctx).issue(reader, IssueRequest(public_line()))


def test_fail_suspended_user(world: World) -> None:
    accounts.set_suspended(world.ctx, "alice", True)
    with pytest.raises(PermissionDenied, match="suspended"):
        issue(world)


def test_fail_org_without_managed_ca(world: World) -> None:
    orgs.create_org(world.ctx, "bare")
    orgs.add_member(world.ctx, "bare", "bob")
    with pytest.raises(NoManagedCA, match="gitward ca create --org bare"):
        issue(world, world.bob_token, organization="bare")
    with pytest.raises(NoManagedCA, match="none of your organizations"):
        issue(world, world.bob_token)


def test_fail_all_cas_retired(world: World) -> None:
    managed_ca.retire_ca(world.ctx, world.ca.fingerprint, NOW - dt.timedelta(seconds=1))
    with pytest.raises(NoManagedCA):
        issue(world)


def test_fail_revoked_key_gets_no_certificate(world: World) -> None:
    line = public_line()
    revocation.revoke_key(world.ctx, line.encode())
    with pytest.raises(PermissionDenied, match="revoked"):
        issue(world, public_key=line)


def test_fail_revoked_ca_does_not_sign(world: World) -> None:
    revocation.revoke_key(world.ctx, world.ca.public_key.encode())
    with pytest.raises(NoManagedCA):
        issue(world)


def test_fail_several_orgs_need_a_name(world: World) -> None:
    orgs.create_org(world.ctx, "beta")
    orgs.add_member(world.ctx, "beta", "alice")
    managed_ca.create_managed_ca(world.ctx, org="beta")
    with pytest.raises(InvalidInput, match="name the organization"):
        issue(world)


def test_ok_refusals_write_nothing(world: World) -> None:
    with pytest.raises(LifetimeTooLong):
        issue(world, validity="5d")
    assert Issuer(world.ctx).list_for(world.alice_token) == []


# --- the CA secret ---------------------------------------------------------------------


def test_ok_sqlite_secret_is_generated_private(ctx: Context) -> None:
    if not ctx.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("the secret is generated only for the embedded SQLite store")
    orgs.create_org(ctx, "acme")
    managed_ca.create_managed_ca(ctx, org="acme")
    path = Path(ctx.settings.data_dir) / "ca-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes().strip()) >= 32


def test_fail_postgres_without_secret_refuses_to_start(ctx: Context) -> None:
    if not ctx.settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL requires the secret from the settings")
    orgs.create_org(ctx, "acme")
    with pytest.raises(ConfigurationError, match="GITWARD_CA_SECRET_FILE"):
        managed_ca.create_managed_ca(ctx, org="acme")
    with pytest.raises(ConfigurationError, match="needs a secret"):
        Issuer(ctx)


def test_fail_wrong_secret_does_not_open_the_key(world: World) -> None:
    from pydantic import SecretStr

    other = world.ctx.settings.model_copy(update={"ca_secret": SecretStr("z" * 40)})
    import dataclasses

    issuer = Issuer(dataclasses.replace(world.ctx, settings=other))
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        issuer.issue(world.alice_token, IssueRequest(public_line()))


def test_ok_private_key_is_not_stored_in_clear(world: World) -> None:
    from sqlalchemy import text

    with world.ctx.engine.connect() as conn:
        sealed = conn.execute(text("SELECT encrypted_key FROM managed_ca_keys")).scalar()
    assert isinstance(sealed, str) and sealed.startswith("v1:")
    assert "PRIVATE KEY" not in sealed and "openssh-key" not in json.dumps(sealed)


def test_ok_removed_ca_stops_signing_and_history_stays(world: World) -> None:
    from gitward.services import authorities, inventory

    issue(world)
    authorities.remove_ca(world.ctx, world.ca.fingerprint)
    with pytest.raises(NoManagedCA):
        issue(world)
    kept = inventory.list_certificates(world.ctx)
    assert len(kept) == 1 and kept[0].ca_fingerprint == world.ca.fingerprint


def test_ok_audit_never_holds_the_token(world: World) -> None:
    from sqlalchemy import text

    made = tokens.create_token(world.ctx, "alice")
    issue(world, made.token)
    with world.ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT action, detail FROM audit_events")).all()
    assert {"token.create", "cert.issue"} <= {r[0] for r in rows}
    assert all(made.token not in r[1] and world.alice_token not in r[1] for r in rows)
