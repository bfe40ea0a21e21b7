"""The connector's page (/admin/connector) in process, as a site admin meets it: the key
imported from files of every kind with the CLI's own words, hosts scanned and pinned
against a real sshd on a loopback port, repositories tested and synced, the issue search;
and as anyone else meets it: 404, CSRF, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gitward.cli.main import cli
from gitward.services import connector_hosts, connector_keys, connector_repos, connector_sync
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.models import AuditEvent
from gitward.store.queries import connector as q
from tests.e2e.connector_helpers import make_upstream
from tests.e2e.sshd_git import USER, GitShellSshd, needs_sshd
from tests.web.conftest import Browser, csrf_of

KEYS = Path(__file__).parents[1] / "vectors" / "keys"
CERTS = Path(__file__).parents[1] / "vectors" / "certs"
PASSPHRASE = "correct horse"  # every encrypted vector's (tests/vectors/make_key_vectors.sh)
PAGE = "/admin/connector"


def error_of(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    assert found, "no error on the page"
    import html as html_module

    return html_module.unescape(found.group(1))


def upload(
    browser: Browser,
    path: Path,
    passphrase: str = "",
    *,
    name: str | None = None,
    data: bytes | None = None,
) -> httpx.Response:
    token = csrf_of(browser.get(PAGE).text)
    return browser.http.post(
        f"{PAGE}/key/import",
        data={"csrf_token": token, "passphrase": passphrase},
        files={"key_file": (name or path.name, data if data is not None else path.read_bytes())},
    )


def cli_error(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What `gitward connector key import FILE` says, run where FILE is (so it names it as
    the page does: by its file name)."""
    monkeypatch.chdir(path.parent)
    result = CliRunner().invoke(
        cli,
        ["connector", "key", "import", path.name, "--data-dir", str(tmp_path / "cli")],
        env={"GITWARD_CA_SECRET": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    return line.removeprefix("error: ")


@pytest.fixture
def admin(browser: Browser) -> Browser:
    browser.sign_in("alice")
    return browser


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[GitShellSshd]:
    server = GitShellSshd(tmp_path / "sshd").start()
    try:
        yield server
    finally:
        server.stop()


def test_ok_admin_imports_an_encrypted_ppk_and_sees_only_the_public_line(admin: Browser) -> None:
    ppk = KEYS / "puttygen_ed25519_enc.ppk"
    page = admin.get(PAGE).text
    assert "The connector has no key yet" in page
    assert 'enctype="multipart/form-data"' in page

    missing = upload(admin, ppk)
    assert missing.status_code == 422
    assert error_of(missing.text) == (
        "puttygen_ed25519_enc.ppk is encrypted: give its passphrase in the Passphrase field"
    )
    wrong = upload(admin, ppk, "not the passphrase")
    assert error_of(wrong.text) == (
        "wrong passphrase: it does not open puttygen_ed25519_enc.ppk; give the right one in "
        "the Passphrase field"
    )
    done = upload(admin, ppk, PASSPHRASE)
    assert done.status_code == 303 and done.headers["location"].endswith(
        "notice=connector-key-saved"
    )
    page = admin.get(PAGE).text
    blob = (KEYS / "puttygen_ed25519.openssh.pub").read_text().split()[1]
    assert f'value="ssh-ed25519 {blob} gitward-connector"' in page  # the line to copy
    assert 'data-copy-from="connector-public-key"' in page
    assert (KEYS / "puttygen_ed25519.sha256.txt").read_text().split()[1] in page
    assert "PRIVATE" not in page and "PuTTY-User-Key-File" not in page


@pytest.mark.parametrize(
    ("file", "public", "passphrase"),
    [
        ("sshkeygen_rsa2048_enc.openssh", "sshkeygen_rsa2048_enc.openssh.pub", PASSPHRASE),
        ("sshkeygen_rsa2048_enc.pkcs1", "sshkeygen_rsa2048_enc.pkcs1.pub", PASSPHRASE),
        ("sshkeygen_rsa2048_enc.pkcs8", "sshkeygen_rsa2048_enc.pkcs8.pub", PASSPHRASE),
        ("openssl_ecdsa256.sec1", "openssl_ecdsa256.sec1.openssh.pub", ""),
        ("puttygen_ed25519_enc_v2.ppk", "puttygen_ed25519.openssh.pub", PASSPHRASE),
        ("sshkeygen_rsa2048.converted_v2.ppk", "sshkeygen_rsa2048.openssh.pub", ""),
    ],
    ids=[
        "ok/openssh-enc",
        "ok/pkcs1-enc",
        "ok/pkcs8-enc",
        "ok/sec1",
        "ok/ppk-v2-enc",
        "ok/ppk-v2-from-ssh-keygen",
    ],
)
def test_ok_every_format_imports_and_shows_its_public_line(
    admin: Browser, file: str, public: str, passphrase: str
) -> None:
    response = upload(admin, KEYS / file, passphrase)
    assert response.status_code == 303, error_of(response.text)
    blob = (KEYS / public).read_text().split()[1]
    page = admin.get(PAGE).text
    assert f' {blob} gitward-connector"' in page


@pytest.mark.parametrize(
    "vector",
    [
        "fail/public-key:puttygen_ed25519.openssh.pub",
        "fail/certificate:ed25519_by_ecdsa256-cert.pub",
        "fail/dsa:sshkeygen_dsa.openssh",
        "fail/rsa-1024:openssl_rsa1024.pkcs8",
        "fail/not-a-key:VERSIONS",
    ],
)
def test_fail_import_refusals_are_the_cli_s_words(
    admin: Browser, vector: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = vector.split(":", 1)[1]
    path = (CERTS if name.endswith("-cert.pub") else KEYS) / name
    response = upload(admin, path)
    assert response.status_code in (409, 422), response.status_code
    assert error_of(response.text) == cli_error(path, tmp_path, monkeypatch)
    # Nothing of a private key comes back, and none was stored.
    assert "PRIVATE KEY" not in response.text
    assert "The connector has no key yet" in response.text


def test_ok_generate_then_a_replacement_is_pending_until_tested(
    admin: Browser, site: Context
) -> None:
    assert admin.post_form(PAGE, f"{PAGE}/key/generate", key_type="ed25519").status_code == 303
    first = connector_keys.status(site).active
    assert first is not None and first.key_type == "ssh-ed25519"
    connector_repos.add(site, "git@git.example.com:acme/app.git")
    response = admin.post_form(PAGE, f"{PAGE}/key/generate", key_type="rsa", bits="3072")
    assert response.status_code == 303
    page = admin.get(PAGE).text
    assert "Pending replacement" in page and "3072 bits (pending)" in page
    assert "Repositories that still accept only the old key: app" in page
    bad = admin.post_form(PAGE, f"{PAGE}/key/generate", key_type="rsa", bits="1024")
    assert bad.status_code == 422 and "1024" in error_of(bad.text)


@needs_sshd
def test_ok_a_replacement_key_takes_over_once_every_repository_accepts_it(
    admin: Browser, sshd: GitShellSshd, site: Context, tmp_path: Path
) -> None:
    make_upstream(tmp_path / "app.git", ["PROJ-1 first"])
    upload(admin, KEYS / "puttygen_ed25519_enc.ppk", PASSPHRASE)
    old = connector_keys.public_line(site)
    assert old is not None
    sshd.authorize(old)
    connector_hosts.pin(site, f"127.0.0.1:{sshd.port}", key_line=sshd.host_key_line())
    url = f"ssh://{USER}@127.0.0.1:{sshd.port}{tmp_path / 'app.git'}"
    assert admin.post_form(PAGE, f"{PAGE}/repositories", url=url).status_code == 200
    admin.post_form(PAGE, f"{PAGE}/key/generate", key_type="ed25519")
    pending = connector_keys.status(site).pending
    assert pending is not None
    first = admin.post_form(PAGE, f"{PAGE}/test").text
    assert "app: ok</strong>" in first and "new key NOT accepted" in first
    assert "Repositories that still accept only the old key: app" in first
    sshd.authorize(pending.public_key)
    second = admin.post_form(PAGE, f"{PAGE}/test").text
    assert "new key accepted" in second
    assert "Every repository accepts the new key: it is now the connector's key." in second
    assert "Pending replacement" not in second
    assert connector_keys.public_line(site) == pending.public_key


@needs_sshd
def test_ok_scan_compares_with_pins_then_pin_and_a_changed_key_is_named(
    admin: Browser, sshd: GitShellSshd, site: Context
) -> None:
    host = f"127.0.0.1:{sshd.port}"
    first = sshd.fingerprint()
    scan = admin.post_form(PAGE, f"{PAGE}/hosts/scan", host=host)
    assert scan.status_code == 200
    assert first in scan.text
    assert (
        f"Nothing is pinned for {host}: check that fingerprint with the host&#39;s "
        f"administrator, then run `gitward connector host pin {host} --fingerprint {first}`"
    ) in scan.text
    pinned = admin.post_form(PAGE, f"{PAGE}/hosts/pin", host=host, fingerprint=first)
    assert pinned.status_code == 303
    page = admin.get(PAGE + "?notice=host-pinned").text
    assert "every repository on that host and port uses it" in page
    assert [p.fingerprint for p in connector_hosts.list_pins(site)] == [first]
    again = admin.post_form(PAGE, f"{PAGE}/hosts/scan", host=host).text
    assert "A pinned key is presented" in again and "Pin this key" not in again

    # A fingerprint the host does not present pins nothing: the host pin's own refusal.
    other = admin.post_form(PAGE, f"{PAGE}/hosts/pin", host=host, fingerprint="SHA256:" + "A" * 43)
    assert other.status_code == 422
    assert "does not present the key" in error_of(other.text)

    sshd.rotate_host_key()
    changed = admin.post_form(PAGE, f"{PAGE}/hosts/scan", host=host).text
    assert "The host key has changed." in changed
    assert f"has CHANGED (pinned {first}, presented {sshd.fingerprint()})" in changed
    assert admin.post_form(PAGE, f"{PAGE}/hosts/unpin", host=host).status_code == 303
    assert connector_hosts.list_pins(site) == []


def test_fail_scanning_a_closed_port_says_why(admin: Browser) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response = admin.post_form(PAGE, f"{PAGE}/hosts/scan", host=f"127.0.0.1:{port}")
    assert response.status_code == 502
    assert error_of(response.text).startswith(f"cannot read the host keys of 127.0.0.1:{port}")


@needs_sshd
def test_ok_repository_test_says_auth_refused_with_the_line_then_ok_then_sync_and_search(
    admin: Browser, sshd: GitShellSshd, site: Context, tmp_path: Path
) -> None:
    make_upstream(tmp_path / "app.git", ["PROJ-7 <script>alert(1)</script> first", "other"])
    upload(admin, KEYS / "puttygen_ed25519_enc.ppk", PASSPHRASE)
    public = connector_keys.public_line(site)
    assert public is not None
    host = f"127.0.0.1:{sshd.port}"
    url = f"ssh://{USER}@{host}{tmp_path / 'app.git'}"

    added = admin.post_form(PAGE, f"{PAGE}/repositories", url=url, name="", interval="10m")
    assert added.status_code == 200
    secret = re.search(r'id="webhook-secret"[^>]*value="([0-9a-f]{64})"', added.text)
    assert secret, added.text
    assert f"No host key is pinned for {host} yet" in added.text
    assert secret.group(1) not in admin.get(PAGE).text  # shown once

    unpinned = admin.post_form(PAGE, f"{PAGE}/repositories/app/test").text
    assert "app: host_key_unknown" in unpinned
    admin.post_form(PAGE, f"{PAGE}/hosts/pin", host=host, fingerprint=sshd.fingerprint())

    refused = admin.post_form(PAGE, f"{PAGE}/repositories/app/test").text
    assert "app: auth_refused" in refused
    assert f"as a deploy key or on a user&#39;s keys: {public}" in refused

    sshd.authorize(public)
    ok = admin.post_form(PAGE, f"{PAGE}/repositories/app/test").text
    assert "app: ok</strong> (" in ok and "default branch main" in ok

    queued = admin.post_form(PAGE, f"{PAGE}/repositories/app/sync")
    assert queued.status_code == 303 and queued.headers["location"].endswith("sync-queued")
    assert [r.ok for r in connector_sync.sync_repositories(site, ["app"])] == [True]
    page = admin.get(PAGE).text
    assert "<td>ok</td>" in page and "1 branch ·" in page

    found = admin.get(PAGE, params={"issue": "proj-7"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in found and "<script>alert" not in found
    assert "Ann Author &lt;ann@example.com&gt;" in found and "main" in found
    nothing = admin.get(PAGE, params={"issue": "PROJ-99"}).text
    assert "Nothing mentions PROJ-99." in nothing
    bad = admin.get(PAGE, params={"issue": "proj"})
    assert bad.status_code == 422 and "is not an issue key like PROJ-123" in error_of(bad.text)

    removed = admin.post_form(PAGE, f"{PAGE}/repositories/app/remove")
    assert removed.status_code == 303
    with transaction(site.engine) as session:
        assert q.list_repositories(session) == []
        events = {
            e.action: e.actor
            for e in session.query(AuditEvent).filter(AuditEvent.action.like("connector.%"))
        }
    # The audit trail names the admin who did each thing.
    assert {
        a: events.get(a)
        for a in (
            "connector.key.import",
            "connector.host.pin",
            "connector.repo.add",
            "connector.repo.trigger",
            "connector.repo.remove",
        )
    } == dict.fromkeys(
        (
            "connector.key.import",
            "connector.host.pin",
            "connector.repo.add",
            "connector.repo.trigger",
            "connector.repo.remove",
        ),
        "alice",
    )
    assert not connector_repos.mirror_path(site.settings, "app").exists()


def test_fail_adding_a_repository_gives_the_cli_s_refusals(admin: Browser, site: Context) -> None:
    connector_repos.add(site, "git@git.example.com:acme/app.git")
    taken = admin.post_form(PAGE, f"{PAGE}/repositories", url="git@other.example:app.git")
    assert taken.status_code == 409
    assert error_of(taken.text) == "a connected repository is already named 'app': choose --name"
    assert 'value="git@other.example:app.git"' in taken.text  # the form keeps what was typed
    bad = admin.post_form(PAGE, f"{PAGE}/repositories", url="https://example.com/x.git")
    assert bad.status_code == 422


# ---- security -----------------------------------------------------------------------------

POSTS = [
    ("/key/generate", {"key_type": "ed25519"}),
    ("/hosts/scan", {"host": "127.0.0.1:1"}),
    ("/hosts/pin", {"host": "127.0.0.1:1", "fingerprint": "SHA256:" + "A" * 43}),
    ("/hosts/unpin", {"host": "127.0.0.1:1"}),
    ("/repositories", {"url": "git@git.example.com:acme/evil.git"}),
    ("/repositories/app/test", {}),
    ("/repositories/app/sync", {}),
    ("/repositories/app/remove", {}),
    ("/test", {}),
]


def test_fail_non_admins_get_404_on_every_connector_page_and_form(
    browser: Browser, site: Context
) -> None:
    connector_repos.add(site, "git@git.example.com:acme/app.git")
    browser.sign_in("bob")
    assert browser.get(PAGE).status_code == 404
    assert browser.get(PAGE, params={"issue": "PROJ-1"}).status_code == 404
    assert "/admin/connector" not in browser.get("/").text
    token = csrf_of(browser.get("/settings/keys").text)
    for path, fields in POSTS:
        response = browser.http.post(PAGE + path, data={"csrf_token": token, **fields})
        assert response.status_code == 404, path
    imported = browser.http.post(
        f"{PAGE}/key/import",
        data={"csrf_token": token, "passphrase": PASSPHRASE},
        files={"key_file": ("k.ppk", (KEYS / "puttygen_ed25519_enc.ppk").read_bytes())},
    )
    assert imported.status_code == 404
    assert connector_keys.status(site).active is None
    with transaction(site.engine) as session:
        assert [r.name for r in q.list_repositories(session)] == ["app"]


@pytest.mark.parametrize("case", ["fail/no_token", "fail/wrong_token", "fail/other_origin"])
def test_fail_every_connector_form_needs_csrf(admin: Browser, site: Context, case: str) -> None:
    connector_repos.add(site, "git@git.example.com:acme/app.git")
    token = csrf_of(admin.get(PAGE).text)
    headers = {"Origin": "http://evil.example"} if case == "fail/other_origin" else {}
    sent = {"fail/no_token": {}, "fail/wrong_token": {"csrf_token": token[:-2] + "xx"}}.get(
        case, {"csrf_token": token}
    )
    for path, fields in POSTS:
        response = admin.http.post(PAGE + path, data={**sent, **fields}, headers=headers)
        assert response.status_code == 403, path
    imported = admin.http.post(
        f"{PAGE}/key/import",
        data={**sent, "passphrase": PASSPHRASE},
        files={"key_file": ("k.ppk", (KEYS / "puttygen_ed25519_enc.ppk").read_bytes())},
        headers=headers,
    )
    assert imported.status_code == 403
    assert connector_keys.status(site).active is None
    with transaction(site.engine) as session:
        assert [r.name for r in q.list_repositories(session)] == ["app"]


def test_ok_a_hostile_file_name_and_url_are_escaped(admin: Browser) -> None:
    evil = "<img src=x onerror=alert(1)>.ppk"
    response = upload(admin, KEYS / "VERSIONS", name=evil)
    assert evil not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;.ppk: " in response.text
    typed = 'git@h:"><script>x</script>.git'
    page = admin.post_form(PAGE, f"{PAGE}/repositories", url=typed).text
    assert "<script>x</script>" not in page


def test_fail_a_huge_upload_is_refused_without_reading_it_all(admin: Browser) -> None:
    # Past the server's body cap (http_max_body_bytes, 1 MiB): refused before it is read.
    response = upload(admin, KEYS / "VERSIONS", name="big.ppk", data=b"A" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "at most 1048576 bytes" in response.text
    # Under it but past what any key file can be: the page's own words.
    response = upload(admin, KEYS / "VERSIONS", name="big.ppk", data=b"A" * (256 * 1024))
    assert response.status_code == 422
    assert error_of(response.text) == (
        "big.ppk is larger than 65536 bytes: that is not a private key file (an 8192-bit RSA "
        "key is under 7 KB)"
    )


def test_ok_no_private_key_is_rendered_after_a_refused_import(admin: Browser) -> None:
    dsa = (KEYS / "sshkeygen_dsa.openssh").read_text()
    response = upload(admin, KEYS / "sshkeygen_dsa.openssh")
    assert "DSA" in error_of(response.text)
    for line in dsa.splitlines()[1:-1]:
        assert line not in response.text
