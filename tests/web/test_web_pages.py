"""The pages as a person uses them, in process (the real app, the real database)."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gitward.keys.api import export_public_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, managed_ca, orgs, signin, ssh_access
from gitward.services.context import Context
from tests.cli.conftest import Gitward
from tests.conftest import VECTORS
from tests.web.asgi import app_client
from tests.web.conftest import PASSWORD, Browser, csrf_of

MakeBrowser = Callable[[], Browser]
UPLOAD = VECTORS / "upload"


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The pages on SQLite only: what differs between the backends (sessions shared by
    frontends, throttling, the preview's query) is tested on both in the other files."""
    return f"sqlite:///{tmp_path / 'gitward.db'}"


def public_line(comment: str = "me@laptop") -> str:
    return export_public_key(generate_key("ed25519", comment=comment)).decode().strip()


def error_of(page: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert found, page[:2000]
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    "vector",
    [
        "dsa_key.pub",
        "rsa1024_key.pub",
        "ed25519_key",
        "ed25519_key-cert.pub",
        "ed25519_rfc4716.pub",
        "two_keys.pub",
        "with_options.pub",
        "../hostile/ecdsa256_compressed.pub",  # issue 12: a compressed ECDSA point
    ],
)
def test_fail_bad_keys_get_the_cli_s_own_words(
    browser: Browser, site: Context, tmp_path: object, vector: str
) -> None:
    data = (UPLOAD / vector).read_text()
    browser.sign_in("bob")
    page = browser.post_form("/settings/keys", key=data)
    assert page.status_code == 422
    cli = Gitward(site.settings.data_dir, site.settings.resolved_database_url)
    line = cli.refused("key", "add", "bob", str(UPLOAD / vector))
    assert error_of(page.text) == line.removeprefix("error: ")


def test_ok_add_list_delete_a_key_with_type_bits_and_last_use(
    browser: Browser, site: Context
) -> None:
    browser.sign_in("bob")
    rsa = (UPLOAD / "rsa2048_key.pub").read_text()
    assert browser.post_form("/settings/keys", key=rsa, title="work laptop").status_code == 303
    page = browser.get("/settings/keys?notice=key-added").text
    assert "The key was added." in page and "work laptop" in page
    assert "ssh-rsa (2048 bits)" in page and "never" in page
    # A real login records when and from where (ssh_access, the SSH server's own path).
    blob = __import__("base64").b64decode(rsa.split()[1])
    ssh_access.authenticate(site, ssh_username="git", key_blob=blob, peer="192.0.2.7", signed=True)
    assert "from 192.0.2.7" in browser.get("/settings/keys").text
    key_id = re.search(r"/settings/keys/(\d+)/delete", page).group(1)  # type: ignore[union-attr]
    response = browser.post_form("/settings/keys", f"/settings/keys/{key_id}/delete")
    assert response.status_code == 303
    assert "work laptop" not in browser.get("/settings/keys").text


def test_ok_sign_in_with_the_link_ssh_login_prints(browser: Browser, site: Context) -> None:
    user_id = accounts.list_users(site)[2].id  # carol
    url = signin.ssh_login_link(site, user_id, peer="127.0.0.1", base_url="http://localhost:8080")
    path = url.removeprefix("http://localhost:8080")
    confirm = browser.get(path)
    assert confirm.status_code == 200 and "Sign in as carol" in confirm.text
    assert browser.get(path).status_code == 200  # looking does not use it
    signed = browser.http.post(path, data={"csrf_token": csrf_of(confirm.text)})
    assert signed.status_code == 303
    assert "Signed in as <strong>carol</strong>" in browser.get("/").text
    # Once only.
    browser.post_form("/settings/security", "/logout")
    again = browser.get(path)
    assert again.status_code == 403 and "not valid" in again.text


def test_fail_ssh_link_expires_after_five_minutes(site: Context, browser: Browser) -> None:
    url = signin.ssh_login_link(site, 1, peer="127.0.0.1", base_url="http://x")
    later = dataclasses.replace(site, clock=lambda: site.now() + signin.SSH_LINK_LIFETIME)
    with app_client(later) as http:
        response = http.get(url.removeprefix("http://x"))
    assert response.status_code == 403 and "expired" in response.text


def test_ok_first_run_setup_creates_a_site_admin_then_closes(site: Context) -> None:
    fresh = dataclasses.replace(site)
    # No site admin with a password yet: make one exist without (the CLI's user create).
    from gitward.store.db import transaction
    from gitward.store.models import User

    with transaction(site.engine) as session:
        for user in session.query(User).all():
            user.password_hash = None
    link = signin.setup_link(fresh, base_url="http://localhost:8080")
    assert link is not None
    with app_client(fresh) as http:
        browser = Browser(http)
        path = link.removeprefix("http://localhost:8080")
        page = browser.get(path)
        assert "Create the first site administrator" in page.text
        short = browser.post_form(path, username="root2", password="short", confirm="short")
        assert short.status_code == 422 and "at least 10 characters" in short.text
        done = browser.post_form(path, username="admin1", password=PASSWORD, confirm=PASSWORD)
        assert done.status_code == 303, done.text
        assert "site admin" in browser.get("/").text
    assert signin.setup_link(fresh, base_url="http://x") is None


def test_ok_invitation_sets_a_password(browser: Browser, site: Context) -> None:
    accounts.create_user(site, "dave")
    url = signin.invite(site, "dave", base_url="http://localhost:8080")
    path = url.removeprefix("http://localhost:8080")
    assert "Welcome, dave" in browser.get(path).text
    assert browser.post_form(path, password=PASSWORD, confirm=PASSWORD).status_code == 303
    browser.post_form("/settings/security", "/logout")
    browser.sign_in("dave")


def test_ok_owner_manages_cas_and_requires_certificates_after_the_preview(
    browser: Browser, site: Context
) -> None:
    browser.sign_in("bob")
    base = "/orgs/acme/settings/certificate-authorities"
    ca = public_line("acme-ca")
    assert browser.post_form(base, key=ca, public_key=ca).status_code == 303
    page = browser.get(base).text
    assert "acme-ca" in page and "never" in page
    assert browser.post_form(base, base + "/create", key_type="ed25519").status_code == 303
    page = browser.get(base).text
    assert "managed" in page
    fingerprint = re.findall(r"<code>(SHA256:[^<]+)</code>", page)[0]
    assert (
        browser.post_form(
            base, base + "/retire", fingerprint=fingerprint, at="2030-01-31"
        ).status_code
        == 303
    )
    assert "2030-01-31 00:00 UTC" in browser.get(base).text
    wrong = browser.post_form(base, base + "/remove", fingerprint=fingerprint, confirm="acne")
    assert wrong.status_code == 422 and "type acme to confirm" in wrong.text
    assert (
        browser.post_form(
            base, base + "/remove", fingerprint=fingerprint, confirm="acme"
        ).status_code
        == 303
    )
    assert fingerprint not in browser.get(base).text

    # carol used a plain key on acme/app: the preview names her before anything is saved.
    carol_key = generate_key("ed25519")
    accounts.add_key(site, "carol", export_public_key(carol_key))
    from gitward.access.facts import UserKeyCredential
    from gitward.services.facts import user_facts
    from gitward.store.db import transaction
    from gitward.store.queries.accounts import user_by_name

    with transaction(site.engine) as session:
        carol = user_facts(user_by_name(session, "carol"))  # type: ignore[arg-type]
    result = ssh_access.authorize_command(
        site,
        credential=UserKeyCredential(carol, key_fingerprint="SHA256:x"),
        ssh_username="git",
        command_line="git-upload-pack 'acme/app.git'",
        peer="192.0.2.8",
        who="carol",
    )
    assert result.decision.allowed
    preview = browser.post_form(base, base + "/require", required="on")
    assert preview.status_code == 200
    assert "1 person used a plain key" in preview.text and "carol" in preview.text
    assert orgs.list_orgs(site)[0].require_ssh_certificates is False  # nothing saved yet
    saved = browser.post_form(base, base + "/require", required="on", confirm="yes")
    assert saved.status_code == 303
    assert orgs.list_orgs(site)[0].require_ssh_certificates is True


def test_ok_repository_page_shows_both_urls_and_marks_the_required_one(
    browser: Browser, site: Context
) -> None:
    browser.sign_in("carol")
    org_id = orgs.list_orgs(site)[0].id
    page = browser.get("/repos/acme/app").text
    assert 'value="git@git.example.com:acme/app.git"' in page
    assert f'value="org-{org_id}@git.example.com:acme/app.git"' in page
    assert "badge-required" not in page
    orgs.require_certificates(site, "acme", True)
    page = browser.get("/repos/acme/app").text
    assert page.count("badge-required") == 1 and "clone-url required" in page
    assert f"User org-{org_id}" in page and "CertificateFile ~/.ssh/id_ed25519-cert.pub" in page
    # A port other than 22 needs the ssh:// form.
    other = dataclasses.replace(site, settings=site.settings.model_copy(update={"ssh_port": 2222}))
    with app_client(other) as http:
        b = Browser(http)
        b.sign_in("carol")
        assert (
            f'value="ssh://org-{org_id}@git.example.com:2222/acme/app.git"'
            in b.get("/repos/acme/app").text
        )
    # Members read but do not manage: no deploy keys section.
    assert "Deploy keys" not in page
    assert browser.get("/repos/acme/nosuch").status_code == 404


def test_ok_admin_creates_a_user_whose_invitation_works(
    browser: Browser, make_browser: MakeBrowser
) -> None:
    browser.sign_in("alice")
    page = browser.post_form("/admin/users", username="erin")
    assert page.status_code == 200 and "erin</strong> was created" in page.text
    link = re.search(r'value="(http://localhost:8080/invite/[^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    newcomer = make_browser()
    path = link.removeprefix("http://localhost:8080")
    assert newcomer.post_form(path, password=PASSWORD, confirm=PASSWORD).status_code == 303
    assert "Signed in as <strong>erin</strong>" in newcomer.get("/").text


def test_fail_non_admins_get_404_on_administration(browser: Browser) -> None:
    browser.sign_in("bob")
    for path in (
        "/admin/users",
        "/admin/certificates",
        "/admin/audit",
        "/admin/keys",
        "/admin/krl",
    ):
        assert browser.get(path).status_code == 404, path
    assert "Administration" not in browser.get("/").text


def test_ok_admin_finds_who_holds_a_key_and_where_it_is_in_use(
    browser: Browser, site: Context
) -> None:
    line = public_line("bobs")
    accounts.add_key(site, "bob", line.encode())
    browser.sign_in("alice")
    page = browser.get("/admin/keys", params={"fingerprint": line}).text
    assert "user key" in page and "<dd>bob</dd>" in page
    refused = browser.post_form("/admin/users/carol", "/admin/users/carol/keys", key=line)
    assert refused.status_code == 409
    assert error_of(refused.text) == "key is already in use: user key of bob (bobs)"
    # A user adding it is not told whose it is.
    other = browser  # sign in as carol in the same browser
    other.post_form("/settings/security", "/logout")
    other.sign_in("carol")
    assert error_of(other.post_form("/settings/keys", key=line).text) == "key is already in use"


def test_ok_admin_audit_filters_pages_and_exports(
    browser: Browser, make_browser: MakeBrowser
) -> None:
    stranger = make_browser()
    for _ in range(3):
        stranger.post_form("/login", username="nobody", password="wrong one here")
    browser.sign_in("alice")
    page = browser.get("/admin/audit", params={"outcome": "denied"}).text
    assert page.count("web.sign_in") >= 3 and "nobody" in page
    csv = browser.get("/admin/audit/export", params={"format": "csv", "outcome": "denied"})
    assert csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.strip().splitlines()
    assert rows[0].startswith("id,at,actor,action") and len(rows) >= 4
    assert all(",denied," in row for row in rows[1:])
    as_json = browser.get("/admin/audit/export", params={"format": "json", "user": "nobody"}).json()
    assert {e["actor"] for e in as_json} == {"nobody"}


def test_ok_a_signed_in_member_gets_a_certificate(browser: Browser, site: Context) -> None:
    managed_ca.create_managed_ca(site, org="acme")
    browser.sign_in("carol")
    page = browser.post_form("/settings/certificates", public_key=public_line(), validity="1h")
    assert page.status_code == 200, error_of(page.text)
    cert = re.search(r'<pre id="new-certificate"[^>]*>([^<]+)</pre>', page.text).group(1)  # type: ignore[union-attr]
    assert cert.startswith("ssh-ed25519-cert-v01@openssh.com ")
    serial = re.search(r"Serial (\d+)", page.text).group(1)  # type: ignore[union-attr]
    download = browser.get(f"/settings/certificates/{serial}/cert.pub")
    assert download.text.strip() == html.unescape(cert)
    assert "attachment" in download.headers["content-disposition"]
    assert (
        browser.post_form(
            "/settings/certificates", f"/settings/certificates/{serial}/revoke"
        ).status_code
        == 303
    )
    assert "badge-revoked" in browser.get("/settings/certificates").text


def test_ok_without_a_ca_secret_everything_but_issuing_works(site: Context, tmp_path: Path) -> None:
    # As on PostgreSQL without ca_secret: a CA secret file that cannot be read.
    settings = site.settings.model_copy(
        update={"ca_secret": None, "ca_secret_file": tmp_path / "missing-secret"}
    )
    bare = dataclasses.replace(site, settings=settings)
    with app_client(bare) as http:
        browser = Browser(http)
        browser.sign_in("carol")
        page = browser.get("/settings/certificates").text
        assert "issuing is disabled" in page and "cannot read the CA secret file" in page
        assert browser.get("/repos/acme/app").status_code == 200
        response = http.post(
            "/api/v1/ssh/certificates",
            json={"public_key": public_line()},
            headers={"Authorization": "Bearer gwp_x"},
        )
        assert (
            response.status_code == 503 and response.json()["error"]["code"] == "issuing_disabled"
        )
