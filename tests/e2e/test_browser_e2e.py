"""The web UI in a real browser (issue 13): Playwright driving Debian's Chromium against a
real `gitward serve`, with real git and ssh beside it.

One server for the module; the tests run in order and build on each other like a
newcomer's first hour: set up the admin, sign in both ways, add keys, create an
organization, require certificates after the preview, copy the org-ID URL, get a
certificate, have it revoked, and give the connector a PuTTY key and a pinned host. Every
wait is for a condition (Playwright's expect, or a bounded poll of a page), never a fixed
sleep. With GITWARD_SCREENSHOTS=1 the main pages are saved to docs/screenshots/ (CI
leaves the tree alone).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.conftest import VECTORS
from tests.e2e.harness import Client, Server, keygen, log_problems, server_env

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


@dataclass
class Site:
    server: Server
    admin: Context
    browser: Browser
    base: str
    home: Path
    state: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)

    def page(self) -> Page:
        context = self.browser.new_context(base_url=self.base)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        page = context.new_page()
        # Script errors and CSP violations; not the 4xx statuses pages answer on purpose.
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text)
                if message.type == "error"
                and not message.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        return page

    def client(self, name: str) -> Client:
        home = self.home / name
        home.mkdir(exist_ok=True)
        key = home / "id_ed25519"
        if not key.exists():
            keygen(key)
        return Client(self.server, home, key)


def shot(page: Page, name: str) -> None:
    if os.environ.get("GITWARD_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not all(shutil.which(t) for t in ("ssh", "ssh-keygen", "git")):
        pytest.skip("browser tests need the OpenSSH client, ssh-keygen and git")
    base_dir = tmp_path_factory.mktemp("browser")
    # hostname 127.0.0.1: the links and clone URLs the pages print work from this machine.
    server = Server(base_dir / "data", server_env(hostname="127.0.0.1")).start()
    assert server.http_url is not None
    admin = open_context(
        Settings(data_dir=server.data_dir, hostname="127.0.0.1", ssh_port=server.port)
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            try:
                yield Site(server, admin, browser, server.http_url, base_dir)
            finally:
                browser.close()
    finally:
        admin.engine.dispose()
        offset = server.log_size()
        server.stop()
        if problems := log_problems(server.log_since(offset)):
            pytest.fail(f"the server printed a traceback while stopping:\n{problems[0]}")


def _banner_link(site: Site) -> str:
    banner = (site.server.data_dir.parent / f"serve-{id(site.server)}.out").read_text()
    found = re.search(r"first run +: open (http://\S+)", banner)
    assert found, banner
    return found.group(1)


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".whoami")).to_contain_text(f"Signed in as {username}")


def test_1_sign_in_by_setup_link_password_and_ssh_login(site: Site) -> None:
    page = site.page()
    page.goto(_banner_link(site))
    expect(page.get_by_role("heading", name="Set up Gitward")).to_be_visible()
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create the administrator").click()
    expect(page.locator(".whoami")).to_contain_text("Signed in as ada")
    expect(page.locator(".whoami")).to_contain_text("site admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Gitward")).to_be_visible()
    shot(page, "sign-in")
    _sign_in(page, "ada")
    site.state["ada"] = page

    # A user with only an SSH key signs in with the link `ssh git@HOST login` prints.
    from gitward.services import accounts

    lin = site.client("lin")
    accounts.create_user(site.admin, "lin")
    accounts.add_key(site.admin, "lin", Path(f"{lin.key}.pub").read_bytes(), title="lin's laptop")
    result = lin.ssh("login")
    assert result.code == 0, result.err
    link = re.search(r"(http://\S+/login/ssh/\S+)", result.err)
    assert link, result.err
    lin_page = site.page()
    lin_page.goto(link.group(1))
    lin_page.get_by_role("button", name="Sign in as lin").click()
    expect(lin_page.locator(".whoami")).to_contain_text("Signed in as lin")
    site.state["lin"] = lin_page


def test_2_add_a_good_and_a_bad_key(site: Site) -> None:
    page: Page = site.state["lin"]
    page.goto("/settings/keys")
    expect(page.locator("table.keys")).to_contain_text("lin's laptop")
    page.locator("textarea[name=key]").fill((VECTORS / "upload" / "dsa_key.pub").read_text())
    page.get_by_role("button", name="Add SSH key").click()
    expect(page.locator("p.error")).to_have_text(
        "DSA keys are not accepted (OpenSSH has disabled them as too weak): "
        "generate an Ed25519 key with `ssh-keygen -t ed25519`"
    )
    second = site.client("lin2")
    good = Path(f"{second.key}.pub").read_text()
    page.locator("input[name=title]").fill("desktop")
    page.locator("textarea[name=key]").fill(good)
    page.get_by_role("button", name="Add SSH key").click()
    expect(page.locator("p.notice")).to_have_text("The key was added.")
    expect(page.locator("table.keys")).to_contain_text("desktop")
    expect(page.locator("table.keys")).to_contain_text("127.0.0.1")  # where `ssh login` came from
    shot(page, "ssh-keys")


def test_3_owner_adds_a_ca_and_requires_certificates_after_the_preview(site: Site) -> None:
    ada: Page = site.state["ada"]
    ada.goto("/admin/organizations")
    ada.get_by_label("Organization name").fill("acme")
    ada.get_by_role("button", name="Create organization").click()
    expect(ada.locator("p.notice")).to_contain_text("you are its owner")
    ada.get_by_label("User name").fill("lin")
    ada.get_by_role("button", name="Save").click()
    expect(ada.locator("p.notice")).to_have_text("The membership was saved.")
    ada.get_by_role("link", name="New repository").click()
    ada.get_by_label("Name").fill("app")
    ada.get_by_role("button", name="Create repository").click()
    expect(ada.locator("p.notice")).to_have_text("The repository was created.")

    # lin clones with a plain key: the preview will name lin.
    lin = site.client("lin")
    assert lin.clone("acme/app").code == 0

    ca = keygen(site.home / "acme_ca")
    site.state["ca"] = ca
    ada.goto("/orgs/acme/settings/certificate-authorities")
    ada.get_by_label("Title (optional)").fill("acme laptops CA")
    ada.get_by_label("The CA's public key").fill(Path(f"{ca}.pub").read_text())
    ada.get_by_role("button", name="Add CA").click()
    expect(ada.locator("p.notice")).to_have_text("The certificate authority was added.")
    expect(ada.locator("table.cas")).to_contain_text("acme laptops CA")
    ada.get_by_role("button", name="Require SSH certificates…").click()
    preview = ada.locator(".preview")
    expect(preview).to_contain_text("1 person used a plain key")
    expect(preview).to_contain_text("lin")
    shot(ada, "require-certificates-preview")
    ada.get_by_role("button", name="Require SSH certificates", exact=True).click()
    expect(ada.locator("p.notice")).to_contain_text("now required")
    refused = lin.clone("acme/app")
    assert "requires SSH certificates" in refused.err, refused.err
    shot(ada, "certificate-authorities")


def test_4_repository_page_shows_and_copies_the_org_id_url(site: Site) -> None:
    from gitward.services import orgs

    org_id = next(o.id for o in orgs.list_orgs(site.admin) if o.name == "acme")
    expected = f"ssh://org-{org_id}@127.0.0.1:{site.server.port}/acme/app.git"
    page: Page = site.state["lin"]
    page.goto("/repos/acme/app")
    box = page.locator('.clone-url[data-kind="certificate"]')
    expect(box).to_contain_text("required")
    expect(box.locator("input")).to_have_value(expected)
    box.get_by_role("button", name="Copy URL").click()
    expect(box.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    shot(page, "repository")
    site.state["org_url"] = expected


def test_5_admin_revokes_a_certificate_and_the_next_clone_is_refused(site: Site) -> None:
    ada: Page = site.state["ada"]
    ada.goto("/orgs/acme/settings/certificate-authorities")
    ada.get_by_role("button", name="Create managed CA").click()
    expect(ada.locator("p.notice")).to_contain_text("private key stays on the server")

    lin_page: Page = site.state["lin"]
    lin = site.client("lin")
    lin_page.goto("/settings/certificates")
    lin_page.get_by_label("Your public key").fill(Path(f"{lin.key}.pub").read_text())
    lin_page.get_by_label("Organization").select_option("acme")
    lin_page.get_by_role("button", name="Get certificate").click()
    certificate = lin_page.locator("#new-certificate")
    expect(certificate).to_contain_text("ssh-ed25519-cert-v01@openssh.com")
    shot(lin_page, "certificates")
    cert_path = Path(f"{lin.key}-cert.pub")
    cert_path.write_text(certificate.inner_text().strip() + "\n")
    lin.cert = cert_path
    lin.ssh_user = site.state["org_url"].split("@", 1)[0].removeprefix("ssh://")
    assert lin.clone("acme/app").code == 0

    ada.goto("/admin/certificates?user=lin")
    row = ada.locator("table.certificates tbody tr").first
    expect(row).to_contain_text("valid")
    row.get_by_role("button", name="Revoke").click()
    expect(ada.locator("p.notice")).to_contain_text("Revoked")
    ada.goto("/admin/certificates?user=lin")
    expect(ada.locator("table.certificates tbody tr").first).to_contain_text("revoked")
    shot(ada, "admin-certificates")
    refused = lin.clone("acme/app")
    assert "ERROR: This SSH certificate has been revoked." in refused.err, refused.err

    ada.goto("/admin/audit?user=lin")
    expect(ada.locator("table.audit")).to_contain_text("git-upload-pack")
    shot(ada, "audit-trail")
    assert site.console_errors == [], site.console_errors


def _host_fingerprints(server: Server) -> set[str]:
    found = set()
    for pub in server.data_dir.glob("ssh_host_*_key.pub"):
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
        ).stdout
        found.add(out.split()[1])
    return found


def test_6_the_connector_imports_an_encrypted_ppk_and_pins_a_host(site: Site) -> None:
    """A site admin gives the connector the PuTTY key they already have (an encrypted
    .ppk made by puttygen, tests/vectors/make_key_vectors.sh), pins this server's host key
    after a scan, connects a repository, and presses Test: refused, with the public line to
    deploy; the line added as a deploy key, the next Test is ok, "Sync now" mirrors a new
    commit and the search box finds it by its issue key."""
    from gitward.services import accounts, repositories

    ada: Page = site.state["ada"]
    ada.goto("/admin/users")
    ada.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Connector"
    ).click()
    expect(ada.get_by_role("heading", name="Repository connector")).to_be_visible()
    expect(ada.locator(".connector-key")).to_contain_text("The connector has no key yet")

    ppk = VECTORS / "keys" / "puttygen_ed25519_enc.ppk"
    ada.get_by_label("Private key file").set_input_files(str(ppk))
    ada.get_by_role("button", name="Import key").click()
    expect(ada.locator("p.error")).to_have_text(
        "puttygen_ed25519_enc.ppk is encrypted: give its passphrase in the Passphrase field"
    )
    ada.get_by_label("Private key file").set_input_files(str(ppk))
    ada.get_by_label("Passphrase (if it is encrypted)").fill("correct horse")
    ada.get_by_role("button", name="Import key").click()
    expect(ada.locator("p.notice")).to_contain_text("The connector's key was saved")
    blob = (VECTORS / "keys" / "puttygen_ed25519.openssh.pub").read_text().split()[1]
    public = f"ssh-ed25519 {blob} gitward-connector"
    expect(ada.locator("#connector-public-key")).to_have_value(public)
    ada.get_by_role("button", name="Copy public key").click()
    expect(ada.get_by_role("button", name="Copied")).to_be_visible()
    assert ada.evaluate("navigator.clipboard.readText()") == public
    assert "PuTTY-User-Key-File" not in ada.content()

    host = f"127.0.0.1:{site.server.port}"
    ada.get_by_label("Host and port").fill(host)
    ada.get_by_role("button", name="Scan host").click()
    scanned = ada.locator("table.scanned")
    expect(ada.locator(".scan .verdict")).to_contain_text(f"Nothing is pinned for {host}")
    presented = set(scanned.locator("code").all_inner_texts())
    assert presented == _host_fingerprints(site.server), presented
    suggested = scanned.locator("tbody tr").first.locator("code").inner_text()
    scanned.locator("tbody tr").first.get_by_role("button", name="Pin this key").click()
    expect(ada.locator("p.notice")).to_contain_text("The host key was pinned")
    expect(ada.locator("table.pins")).to_contain_text(suggested)
    ada.get_by_label("Host and port").fill(host)
    ada.get_by_role("button", name="Scan host").click()
    expect(ada.locator(".scan .verdict")).to_contain_text("A pinned key is presented")

    repositories.create_repo(site.admin, "ada/notes")
    ada.goto("/admin/connector")
    ada.get_by_label("Repository URL").fill(f"ssh://git@{host}/ada/notes.git")
    ada.get_by_role("button", name="Connect repository").click()
    expect(ada.locator(".once")).to_contain_text("notes was connected")
    expect(ada.locator("#webhook-secret")).to_have_value(re.compile(r"^[0-9a-f]{64}$"))
    row = ada.locator("table.repositories tbody tr", has_text="notes")
    row.get_by_role("button", name="Test").click()
    verdict = ada.locator(".verdicts li")
    expect(verdict).to_contain_text("notes: auth_refused")
    expect(verdict).to_contain_text(f"as a deploy key or on a user's keys: {public}")

    ada.goto("/repos/ada/notes")
    ada.get_by_label("Title").fill("connector")
    ada.get_by_label("Key").fill(public)
    ada.get_by_role("button", name="Add deploy key").click()
    expect(ada.locator("p.notice")).to_have_text("The deploy key was added.")
    ada.goto("/admin/connector")
    ada.locator("table.repositories tbody tr", has_text="notes").get_by_role(
        "button", name="Test"
    ).click()
    expect(ada.locator(".verdicts li")).to_contain_text("notes: ok")

    # A commit upstream, "Sync now", and `gitward serve`'s scheduler mirrors and indexes it.
    author = site.client("ada")
    accounts.add_key(site.admin, "ada", Path(f"{author.key}.pub").read_bytes(), title="ada")
    assert author.push_new_commit("ada/notes", "NOTES-1.txt").code == 0
    ada.locator("table.repositories tbody tr", has_text="notes").get_by_role(
        "button", name="Sync now"
    ).click()
    expect(ada.locator("p.notice")).to_contain_text("The sync was queued")
    # The status already says "ok" (the test above): the sync shows as the branch it found.
    cells = ada.locator("table.repositories tbody tr", has_text="notes").locator("td")
    deadline = time.monotonic() + 120
    while "1 branch ·" not in cells.nth(0).inner_text():  # the scheduler looks every 5 s
        assert time.monotonic() < deadline, cells.nth(0).inner_text()
        ada.wait_for_timeout(500)
        ada.reload()
    assert cells.nth(1).inner_text().startswith("ok")
    ada.get_by_label("Issue key").fill("notes-1")
    ada.get_by_role("button", name="Search").click()
    commits = ada.locator("table.commits")
    expect(commits).to_contain_text("add NOTES-1.txt")
    expect(commits).to_contain_text("main")
    shot(ada, "connector")
    assert site.console_errors == [], site.console_errors
