"""The admin CLI through the real entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.cli.conftest import Gitward
from tests.conftest import VECTORS

UP = VECTORS / "upload"


def test_ok_round_trip_every_entity(gitward: Gitward) -> None:
    alice = gitward.ok("user", "create", "alice", "--json").json()
    assert (alice["username"], alice["suspended"]) == ("alice", False)
    gitward.ok("user", "create", "bob")
    key = gitward.ok("key", "add", "alice", str(UP / "ed25519_key.pub"), "--json").json()
    assert key["fingerprint"] == (UP / "fingerprints.txt").read_text().split()[1]
    listed = gitward.ok("key", "list", "alice", "--json").json()
    assert [k["fingerprint"] for k in listed] == [key["fingerprint"]]

    ent = gitward.ok("enterprise", "create", "megacorp", "--json").json()
    org = gitward.ok("org", "create", "acme", "--enterprise", "megacorp", "--json").json()
    assert isinstance(org["id"], int) and org["enterprise"] == "megacorp" and ent["id"] >= 1
    gitward.ok("org", "member", "add", "acme", "alice", "--role", "owner")
    assert gitward.ok("org", "member", "list", "acme", "--json").json() == [
        {"user": "alice", "role": "owner"}
    ]
    gitward.ok("org", "require-certificates", "acme", "on")
    assert gitward.ok("org", "list", "--json").json()[0]["require_ssh_certificates"] is True

    ca = gitward.ok("ca", "add", "--org", "acme", str(UP / "ca_key.pub"), "--json").json()
    gitward.ok("ca", "add", "--enterprise", "megacorp", str(UP / "other_ca_key.pub"))
    assert len(gitward.ok("ca", "list", "--json").json()) == 2

    gitward.ok("repo", "create", "acme/app")
    gitward.ok("repo", "fork", "acme/app", "--to", "bob")
    gitward.ok("repo", "grant", "acme/app", "bob", "write")
    urls = gitward.ok("repo", "url", "acme/app").out.splitlines()
    assert urls == [
        "ssh://git@git.example.com:2222/acme/app.git",
        f"ssh://org-{org['id']}@git.example.com:2222/acme/app.git",
    ]
    assert gitward.ok("repo", "url", "bob/app", "--ssh-port", "22").out.splitlines() == [
        "git@git.example.com:bob/app.git"
    ]
    repos = gitward.ok("repo", "list", "--json").json()
    assert [(r["full_name"], r["fork_of"]) for r in repos] == [
        ("acme/app", None),
        ("bob/app", "acme/app"),
    ]
    deploy = gitward.ok(
        "deploy-key", "add", "acme/app", str(UP / "ecdsa256_key.pub"), "--write", "--json"
    ).json()
    assert deploy["read_only"] is False

    gitward.ok("user", "rename", "bob", "robert")
    gitward.ok("user", "suspend", "robert")
    users = gitward.ok("user", "list", "--json").json()
    assert [(u["username"], u["suspended"]) for u in users] == [("alice", False), ("robert", True)]
    assert (gitward.data_dir / "repos" / "robert" / "app.git" / "HEAD").is_file()
    gitward.ok("key", "remove", "alice", key["fingerprint"])
    gitward.ok("ca", "remove", ca["fingerprint"])
    assert gitward.ok("key", "list", "alice", "--json").json() == []
    assert len(gitward.ok("ca", "list", "--json").json()) == 1


def test_ok_key_from_standard_input(gitward: Gitward) -> None:
    gitward.ok("user", "create", "alice")
    gitward.ok("key", "add", "alice", "-", stdin=(UP / "ed25519_key.pub").read_bytes())
    assert len(gitward.ok("key", "list", "alice", "--json").json()) == 1


def test_fail_each_bad_upload_has_its_message_and_stores_nothing(gitward: Gitward) -> None:
    gitward.ok("user", "create", "alice")
    gitward.ok("user", "create", "bob")
    gitward.ok("org", "create", "acme")
    gitward.ok("org", "create", "globex")
    gitward.ok("key", "add", "bob", str(UP / "ed25519_key.pub"))
    gitward.ok("ca", "add", "--org", "globex", str(UP / "ca_key.pub"))
    cases = {
        "ed25519_key": "error: this is a private key; upload the .pub file",
        "dsa_key.pub": "error: DSA keys are not accepted",
        "rsa1024_key.pub": "error: RSA keys must have at least 2048 bits",
        "with_options.pub": "error: this line carries authorized_keys options",
        "two_keys.pub": "error: the upload holds 2 lines; upload one key at a time",
        "ed25519_key.pub": "error: key is already in use",
        "ed25519_key-cert.pub": "error: this is an SSH certificate",
    }
    for name, expected in cases.items():
        line = gitward.refused("key", "add", "alice", str(UP / name))
        assert line.startswith(expected), (name, line)
    secret = (UP / "ed25519_key").read_text().splitlines()[1]
    assert secret[:30] not in gitward("key", "add", "alice", str(UP / "ed25519_key")).err
    assert gitward.refused("ca", "add", "--org", "acme", str(UP / "ca_key.pub")) == (
        "error: this certificate authority is already registered to another account"
    )
    assert gitward.refused(
        "ca", "add", "--org", "acme", str(UP / "ed25519_key-cert.pub")
    ).startswith("error: this is a certificate, not a certificate authority's key")
    line = gitward.refused("key", "add", "alice", "/nonexistent/key.pub")
    assert line.startswith("error: cannot read /nonexistent/key.pub")
    assert gitward.ok("key", "list", "alice", "--json").json() == []
    assert len(gitward.ok("ca", "list", "--json").json()) == 1


def test_fail_refusals_exit_1_with_one_line(gitward: Gitward) -> None:
    gitward.ok("user", "create", "alice")
    assert gitward.refused("user", "create", "ALICE") == "error: the name 'ALICE' is already taken"
    assert gitward.refused("org", "create", "alice") == "error: the name 'alice' is already taken"
    assert gitward.refused("repo", "create", "nobody/app") == (
        "error: no user or organization named 'nobody'"
    )
    assert gitward.refused("user", "rename", "ghost", "x") == "error: no user named 'ghost'"
    assert gitward.refused("user", "create", "bad-").startswith("error: invalid user name")
    assert gitward.refused("repo", "grant", "alice/none", "alice", "read") == (
        "error: no repository alice/none"
    )
    assert [u["username"] for u in gitward.ok("user", "list", "--json").json()] == ["alice"]


def test_fail_usage_errors_exit_2(gitward: Gitward) -> None:
    assert gitward("user", "frobnicate").code == 2
    assert gitward("repo", "grant", "a/b", "alice", "god").code == 2
    assert gitward("org", "require-certificates", "acme", "maybe").code == 2


def test_ok_flags_before_or_after_the_command(gitward: Gitward) -> None:
    other = gitward.data_dir.parent / "other"
    result = gitward("--data-dir", str(other), "user", "create", "zed")
    # The flag after the command (added by the fixture) wins over the one before.
    assert result.code == 0
    assert [u["username"] for u in gitward.ok("user", "list", "--json").json()] == ["zed"]


def test_ok_installed_console_script_keeps_the_exit_code_contract(
    gitward_process: Gitward,
) -> None:
    gitward_process.ok("user", "create", "alice")
    assert gitward_process.ok("user", "list", "--json").json()[0]["username"] == "alice"
    assert gitward_process.refused("user", "create", "alice") == (
        "error: the name 'alice' is already taken"
    )
    assert gitward_process("user", "frobnicate").code == 2
