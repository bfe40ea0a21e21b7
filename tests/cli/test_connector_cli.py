"""`gitward connector ...`: the contract (one `error:` line, exit codes, --json), key
import of every format `gitward.keys` reads (fixtures made by ssh-keygen, puttygen and
openssl: tests/vectors/make_key_vectors.sh) with one line naming each refusal's cause and
fix, host pins, repositories, search."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitward.connector.host_keys import parse_key_line
from gitward.keys import export_public_key, generate_key
from tests.cli.conftest import Gitward

KEYS = Path(__file__).parent.parent / "vectors" / "keys"
CERT = Path(__file__).parent.parent / "vectors" / "upload" / "ed25519_key-cert.pub"
PASS = "correct horse"
PG_SECRET = "connector-test-secret-0123456789abcdef"


class ConnectorCli(Gitward):
    def env(self) -> dict[str, str]:
        return {**super().env(), "GITWARD_CA_SECRET": PG_SECRET, "PASS": PASS, "WRONG": "nope"}


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> ConnectorCli:
    return ConnectorCli(tmp_path / "data", database_url)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> ConnectorCli:
    return ConnectorCli(tmp_path / "data", f"sqlite:///{tmp_path / 'gitward.db'}")


def test_ok_generate_show_json(cli: ConnectorCli) -> None:
    assert "no key yet" in cli.refused("connector", "key", "show")
    made = cli.ok("connector", "key", "generate").out.splitlines()
    assert made[0].startswith("ssh-ed25519 AAAA") and made[1].startswith("SHA256:")
    shown = cli.ok("connector", "key", "show", "--json").json()
    assert shown["active"]["public_key"] == made[0] and shown["active"]["bits"] == 256
    assert shown["pending"] is None and shown["active"]["certificate_valid_before"] is None


IMPORTS = {
    "ok/openssh-ed25519": ("sshkeygen_ed25519.openssh", (), "ssh-ed25519"),
    "ok/openssh-encrypted": (
        "sshkeygen_ecdsa256_enc.openssh",
        ("--passphrase-env", "PASS"),
        "ecdsa-sha2-nistp256",
    ),
    "ok/pkcs1-rsa": ("sshkeygen_rsa2048.pkcs1", (), "ssh-rsa"),
    "ok/pkcs8-rsa-encrypted": ("sshkeygen_rsa2048_enc.pkcs8", ("-P", PASS), "ssh-rsa"),
    "ok/sec1-ecdsa": ("openssl_ecdsa384.sec1", (), "ecdsa-sha2-nistp384"),
    "ok/ppk2": ("puttygen_rsa2048_v2.ppk", (), "ssh-rsa"),
    "ok/ppk3-encrypted": (
        "puttygen_ecdsa521_enc.ppk",
        ("--passphrase-env", "PASS"),
        "ecdsa-sha2-nistp521",
    ),
    "ok/ppk2-encrypted": (
        "puttygen_ed25519_enc_v2.ppk",
        ("--passphrase-env", "PASS"),
        "ssh-ed25519",
    ),
}


@pytest.mark.parametrize("name", IMPORTS)
def test_import_every_format(sqlite_cli: ConnectorCli, name: str) -> None:
    vector, args, key_type = IMPORTS[name]
    sqlite_cli.ok("connector", "key", "import", str(KEYS / vector), *args)
    shown = sqlite_cli.ok("connector", "key", "show", "--json").json()["active"]
    assert shown["key_type"] == key_type
    # The public key is the file's own (ssh-keygen/puttygen wrote its .pub beside it).
    public = KEYS / f"{vector.removesuffix('.ppk')}.openssh.pub"
    if name.startswith("ok/ppk") and public.exists():
        assert shown["public_key"].split()[1] == public.read_text().split()[1]


REFUSED = {
    "fail/public-key": ("sshkeygen_ed25519.openssh.pub", (), "is a public key", "without .pub"),
    "fail/certificate": (str(CERT), (), "is an SSH certificate, not a private key", "key certify"),
    "fail/wrong-passphrase": (
        "puttygen_ed25519_enc.ppk",
        ("--passphrase-env", "WRONG"),
        "wrong passphrase",
        "",
    ),
    "fail/no-passphrase": ("sshkeygen_rsa2048_enc.openssh", (), "is encrypted", "--passphrase-env"),
    "fail/dsa": (
        "puttygen_dsa1024.ppk",
        (),
        "Gitward refuses DSA keys",
        "gitward connector key generate",
    ),
    "fail/rsa-1024": (
        "openssl_rsa1024.pkcs8",
        (),
        "refuses RSA keys under 2048 bits",
        "gitward connector key generate",
    ),
    "fail/ed448": ("puttygen_ed448.ppk", (), "Ed448", "gitward connector key generate"),
    "fail/not-a-key": ("VERSIONS", (), "not a key in any format", ""),
}


@pytest.mark.parametrize("name", REFUSED)
def test_import_refusals_are_one_line_with_cause_and_fix(
    sqlite_cli: ConnectorCli, name: str
) -> None:
    vector, args, cause, fix = REFUSED[name]
    path = vector if vector.startswith("/") else str(KEYS / vector)
    line = sqlite_cli.refused("connector", "key", "import", path, *args)
    assert cause in line and fix in line
    assert "PRIVATE KEY" not in line
    assert "no key yet" in sqlite_cli.refused("connector", "key", "show")  # nothing stored


def test_ok_pins_from_a_key_and_from_a_hashed_known_hosts(
    cli: ConnectorCli, tmp_path: Path
) -> None:
    line = export_public_key(generate_key("ed25519").public).decode().strip()
    other = export_public_key(generate_key("ecdsa").public).decode().strip()
    key = parse_key_line(line)
    pinned = cli.ok("connector", "host", "pin", "Git.Example.com:2222", "--key", line, "--json")
    assert pinned.json()[0] == {
        **pinned.json()[0],
        "host_port": "git.example.com:2222",
        "fingerprint": key.fingerprint,
    }
    known = tmp_path / "known_hosts"
    known.write_text(f"[other.example]:2200 {other}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    cli.ok("connector", "host", "pin", "other.example:2200", "--known-hosts", str(known))
    listed = cli.ok("connector", "host", "list", "--json").json()
    assert [p["host_port"] for p in listed] == ["git.example.com:2222", "other.example:2200"]
    assert "no usable key for other.example" in cli.refused(
        "connector", "host", "pin", "other.example", "--known-hosts", str(known)
    )
    assert "exactly one of" in cli.refused(
        "connector", "host", "pin", "h", "--key", line, "--fingerprint", key.fingerprint
    )
    cli.ok("connector", "host", "unpin", "git.example.com:2222")
    assert "no host key is pinned" in cli.refused(
        "connector", "host", "unpin", "git.example.com:2222"
    )


def test_ok_repositories_add_list_remove(cli: ConnectorCli) -> None:
    added = cli.ok("connector", "repo", "add", "git@github.com:acme/app.git", "--json").json()
    assert added["name"] == "app" and added["url"] == "git@github.com:acme/app.git"
    assert len(added["webhook_secret"]) == 64 and added["host_pinned"] is False
    text = cli.ok(
        "connector",
        "repo",
        "add",
        "ssh://git@h.example:2222/x/y.git",
        "--name",
        "why",
        "--interval",
        "1h",
    )
    assert "webhook secret (shown once)" in text.out and "host scan h.example:2222" in text.err
    listed = cli.ok("connector", "repo", "list", "--json").json()
    assert [(r["name"], r["interval_seconds"], r["last_outcome"]) for r in listed] == [
        ("app", 300, None),
        ("why", 3600, None),
    ]
    assert "https:// URLs are not supported" in cli.refused(
        "connector", "repo", "add", "https://github.com/acme/app.git"
    )
    assert "already named 'app'" in cli.refused("connector", "repo", "add", "git@h:o/app.git")
    cli.ok("connector", "repo", "remove", "why")
    assert "no connected repository" in cli.refused("connector", "repo", "remove", "why")


def test_fail_test_and_sync_say_what_is_missing(cli: ConnectorCli) -> None:
    assert "no repositories are connected" in cli.refused("connector", "test")
    cli.ok("connector", "repo", "add", "git@127.0.0.1:acme/app.git")
    result = cli("connector", "test")
    assert result.code == 1
    assert result.out.startswith("app: no_key: ") and "connector key generate" in result.out
    assert result.err.strip() == "error: 1 of 1 repositories failed the test"


def test_search_contract(cli: ConnectorCli) -> None:
    assert "not an issue key" in cli.refused("connector", "search", "PROJ")
    empty = cli.ok("connector", "search", "proj-1", "--json").json()
    assert empty == {"issue_key": "PROJ-1", "commits": [], "branches": [], "truncated": False}


def test_ok_connector_scopes_for_tokens(cli: ConnectorCli) -> None:
    cli.ok("user", "create", "tracker")
    made = cli.ok(
        "token",
        "create",
        "tracker",
        "--scope",
        "connector:read",
        "--scope",
        "connector:sync",
        "--json",
    ).json()
    assert made["scopes"] == ["connector:read", "connector:sync"]
    assert json.loads(json.dumps(made))["token"].startswith("gwp_")
