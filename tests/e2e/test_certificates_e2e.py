"""OpenSSH user certificates from organization and enterprise CAs (issue 4), signed by
ssh-keygen -s, used by the real ssh and git clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from gitward.services import accounts, authorities, orgs, repositories
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.queries.accounts import user_by_name
from tests.e2e.harness import HOSTNAME, Client, keygen, sign

MakeClient = Callable[..., Client]
LOGIN = f"login@{HOSTNAME}"


class World:
    """One organization with a CA, a member alice with a certificate, and repositories."""

    def __init__(self, admin: Context, make_client: MakeClient, tmp_path: Path, tag: str) -> None:
        self.admin, self.tag = admin, tag
        self.org = orgs.create_org(admin, f"{tag}-acme")
        self.alice_name = f"{tag}-alice"
        accounts.create_user(admin, self.alice_name)
        orgs.add_member(admin, self.org.name, self.alice_name, "owner")
        self.ca = keygen(tmp_path / f"{tag}_ca")
        authorities.add_ca(admin, Path(f"{self.ca}.pub").read_bytes(), org=self.org.name)
        self.repo = f"{self.org.name}/app"
        repositories.create_repo(admin, self.repo)
        self.make_client = make_client

    def cert_client(
        self, *options: str, user: str | None = None, ssh_user: str = "git", ca: Path | None = None
    ) -> Client:
        client = self.make_client(ssh_user=ssh_user)
        login = ["-O", f"extension:{LOGIN}={user or self.alice_name}"]
        client.cert = sign(ca or self.ca, client.key, *login, *options)
        return client


@pytest.fixture
def world(
    admin: Context, make_client: MakeClient, tmp_path: Path, request: pytest.FixtureRequest
) -> World:
    tag = "c" + str(abs(hash(request.node.name)) % 10**8)
    return World(admin, make_client, tmp_path, tag)


def test_ok_certificate_clones_and_pushes_over_git_and_org_id(world: World) -> None:
    alice = world.cert_client("-V", "+1h")
    assert alice.ssh().err.startswith(f"Hi {world.alice_name}!")
    assert alice.push_new_commit(world.repo).code == 0
    by_org = world.cert_client("-V", "+1h", ssh_user=f"org-{world.org.id}")
    assert by_org.clone(world.repo).code == 0
    assert by_org.push_new_commit(world.repo, "org.txt").code == 0


def test_ok_principals_do_not_matter(world: World) -> None:
    alice = world.cert_client("-V", "+1h", "-n", "somebody-else,root")
    assert alice.clone(world.repo).code == 0


def test_ok_enterprise_ca_reaches_its_organizations(
    admin: Context, world: World, tmp_path: Path
) -> None:
    ent = f"{world.tag}-corp"
    orgs.create_enterprise(admin, ent)
    org = orgs.create_org(admin, f"{world.tag}-sub", enterprise=ent)
    orgs.add_member(admin, org.name, world.alice_name)
    repositories.create_repo(admin, f"{org.name}/lib")
    ent_ca = keygen(tmp_path / "ent_ca")
    authorities.add_ca(admin, Path(f"{ent_ca}.pub").read_bytes(), enterprise=ent)
    alice = world.cert_client("-V", "+1h", ca=ent_ca, ssh_user=f"org-{org.id}")
    assert alice.clone(f"{org.name}/lib").code == 0
    # ...but not the first organization, which trusts only its own CA.
    other = world.cert_client("-V", "+1h", ca=ent_ca)
    assert "ERROR: Repository not found." in other.clone(world.repo).err


def test_fail_certificate_never_reaches_user_repos_or_forks(admin: Context, world: World) -> None:
    repositories.create_repo(admin, f"{world.alice_name}/mine")
    repositories.fork_repo(admin, world.repo, world.alice_name)
    alice = world.cert_client("-V", "+1h")
    for repo in (f"{world.alice_name}/mine", f"{world.alice_name}/app"):
        assert "ERROR: Repository not found." in alice.clone(repo).err


def test_fail_org_id_username_refuses_plain_keys_and_other_orgs(
    admin: Context, world: World, make_client: MakeClient
) -> None:
    plain = make_client(ssh_user=f"org-{world.org.id}")
    accounts.add_key(admin, world.alice_name, Path(f"{plain.key}.pub").read_bytes())
    result = plain.clone(world.repo)
    assert result.code != 0 and "Permission denied (publickey)" in result.err
    other = orgs.create_org(admin, f"{world.tag}-globex")
    wrong_org = world.cert_client("-V", "+1h", ssh_user=f"org-{other.id}")
    assert "Permission denied (publickey)" in wrong_org.clone(world.repo).err


def test_fail_org_requiring_certificates_refuses_plain_keys(
    admin: Context, world: World, make_client: MakeClient
) -> None:
    plain = make_client()
    accounts.add_key(admin, world.alice_name, Path(f"{plain.key}.pub").read_bytes())
    deploy = make_client()
    repositories.add_deploy_key(admin, world.repo, Path(f"{deploy.key}.pub").read_bytes())
    assert plain.clone(world.repo).code == 0
    orgs.require_certificates(admin, world.org.name, True)
    refused = plain.clone(world.repo)
    assert f"ERROR: The {world.org.name} organization requires SSH certificates." in refused.err
    exact_url = f"ssh://org-{world.org.id}@{HOSTNAME}:{plain.server.port}/{world.repo}.git"
    assert f"then use the SSH username org-{world.org.id} ({exact_url})." in refused.err
    assert deploy.clone(world.repo).code == 0  # deploy keys are exempt
    assert world.cert_client("-V", "+1h").clone(world.repo).code == 0


@pytest.mark.parametrize(
    "case, options, message",
    [
        ("fail/expired", ["-V", "20200101:20200102"], "ERROR: This SSH certificate has expired."),
        (
            "fail/not-yet-valid",
            ["-V", "20990101:20990102"],
            "ERROR: This SSH certificate is not yet valid.",
        ),
        (
            "fail/source-address",
            ["-V", "+1h", "-O", "source-address=10.9.8.7/32,2001:db8::/32"],
            "ERROR: This SSH certificate may not be used from this address.",
        ),
    ],
)
def test_fail_explained_certificate_refusals(
    world: World, case: str, options: list[str], message: str
) -> None:
    result = world.cert_client(*options).clone(world.repo)
    assert result.code != 0
    assert message in result.err, (case, result.err)


def test_ok_source_address_list_with_loopback(world: World) -> None:
    alice = world.cert_client("-V", "+1h", "-O", "source-address=10.0.0.0/8,127.0.0.1/32")
    assert alice.clone(world.repo).code == 0


@pytest.mark.parametrize(
    "case, options",
    [
        ("fail/never-expires", ["-V", "always:forever"]),
        ("fail/366-days", ["-V", "+366d"]),
        ("fail/unknown-critical-option", ["-V", "+1h", "-O", "critical:frobnicate=yes"]),
        ("fail/verify-required", ["-V", "+1h", "-O", "verify-required"]),
        ("fail/host-certificate", ["-V", "+1h", "-h"]),
    ],
)
def test_fail_certificates_refused_at_authentication(
    world: World, case: str, options: list[str]
) -> None:
    result = world.cert_client(*options).clone(world.repo)
    assert result.code != 0
    assert "Permission denied (publickey)" in result.err, (case, result.err)


def test_fail_unknown_user_other_host_and_removed_ca(admin: Context, world: World) -> None:
    ghost = world.cert_client("-V", "+1h", user="nobody-here")
    assert "Permission denied (publickey)" in ghost.clone(world.repo).err
    other_host = world.make_client()
    other_host.cert = sign(
        world.ca,
        other_host.key,
        "-V",
        "+1h",
        "-O",
        f"extension:login@github.com={world.alice_name}",
    )
    assert "Permission denied (publickey)" in other_host.clone(world.repo).err
    alice = world.cert_client("-V", "+1h")
    assert alice.clone(world.repo).code == 0
    fingerprint = authorities.list_cas(admin)
    ca_fp = next(c.fingerprint for c in fingerprint if c.owner == world.org.name)
    authorities.remove_ca(admin, ca_fp)
    assert "Permission denied (publickey)" in alice.clone(world.repo).err


def _backdate_user(admin: Context, name: str, seconds: int) -> None:
    """Make ``name`` look as if it had been created ``seconds`` ago (test setup only)."""
    with transaction(admin.engine) as session:
        user = user_by_name(session, name)
        assert user is not None
        user.created_at = admin.now() - dt.timedelta(seconds=seconds)


def test_fail_user_renamed_after_certificate_was_issued(admin: Context, world: World) -> None:
    _backdate_user(admin, world.alice_name, 3600)
    alice = world.cert_client("-V", "-10m:+1h")
    assert alice.clone(world.repo).code == 0
    accounts.rename_user(admin, world.alice_name, f"{world.alice_name}-old")
    accounts.create_user(admin, world.alice_name)  # someone new takes the name
    orgs.add_member(admin, world.org.name, world.alice_name)
    assert "Permission denied (publickey)" in alice.clone(world.repo).err


def test_fail_certificate_older_than_the_user(world: World) -> None:
    # Issued (valid_after) ten minutes before this alice existed: the name may have
    # belonged to someone else then.
    alice = world.cert_client("-V", "-10m:+1h")
    assert "Permission denied (publickey)" in alice.clone(world.repo).err


def test_ok_id_extension_survives_rename(admin: Context, world: World) -> None:
    user_id = next(u.id for u in accounts.list_users(admin) if u.username == world.alice_name)
    client = world.make_client()
    client.cert = sign(
        world.ca, client.key, "-V", "-10m:+1h", "-O", f"extension:id@{HOSTNAME}={user_id}"
    )
    accounts.rename_user(admin, world.alice_name, f"{world.alice_name}-new")
    assert client.clone(world.repo).code == 0


def test_ok_force_command_permits_only_that_command(world: World) -> None:
    reader = world.cert_client(
        "-V", "+1h", "-O", f"force-command=git-upload-pack '{world.repo}.git'"
    )
    assert reader.clone(world.repo).code == 0
    push = reader.push_new_commit(world.repo)
    assert "ERROR: This SSH certificate does not permit this command." in push.err


def test_fail_sha1_signatures_are_refused(world: World, tmp_path: Path, admin: Context) -> None:
    rsa_ca = keygen(tmp_path / "rsa_ca", "rsa", 3072)
    authorities.add_ca(admin, Path(f"{rsa_ca}.pub").read_bytes(), org=world.org.name)
    sha1 = world.cert_client("-V", "+1h", "-t", "ssh-rsa", ca=rsa_ca)
    assert "Permission denied (publickey)" in sha1.clone(world.repo).err
    sha512 = world.cert_client("-V", "+1h", ca=rsa_ca)
    assert sha512.clone(world.repo).code == 0


def test_fail_sha1_user_signature_with_plain_rsa_key(
    admin: Context, world: World, make_client: MakeClient
) -> None:
    rsa_user = make_client("rsa")
    accounts.add_key(admin, world.alice_name, Path(f"{rsa_user.key}.pub").read_bytes())
    assert rsa_user.clone(world.repo).code == 0
    rsa_user.extra_ssh = ("-o", "PubkeyAcceptedAlgorithms=ssh-rsa")
    result = rsa_user.clone(world.repo)
    assert result.code != 0 and "Permission denied" in result.err
