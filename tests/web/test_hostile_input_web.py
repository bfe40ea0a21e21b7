"""Poison through every form of the web UI, signed in as a site admin with a valid CSRF
token: what a person (or a script) posts is answered with a page and a 4xx or a redirect,
never a 500 (issue 12)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from gitward.http.web import site as web_site
from tests.web.conftest import Browser, csrf_of

POISON_VALUES = [
    "",
    "\x00",
    "²³",
    "9" * 5000,
    "0" * 5000 + "1",
    "-1",
    "../../etc/passwd",
    "a" * 70_000,
    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    "ssh-ed25519 AAAA",
    "<script>alert(1)</script>",
]
FIELDS = [
    "key", "title", "name", "username", "login", "password", "new_password", "confirm",
    "role", "permission", "serial", "key_id", "ca", "reason", "what", "organization",
    "validity", "managed", "key_type", "enterprise", "email", "next", "repo", "owner",
]  # fmt: skip


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gitward.db'}"


def test_fail_poison_in_every_form_is_never_a_500(browser: Browser) -> None:
    browser.sign_in("alice")  # a site admin: every page is open to her
    token = csrf_of(browser.get("/settings/keys").text)
    posted = 0
    for router in web_site.routers():
        for route in router.routes:
            methods = getattr(route, "methods", set()) or set()
            if "POST" not in methods:
                continue
            if route.path in ("/logout",):
                continue  # would sign alice out for the rest of the loop
            for value, row in itertools.product(POISON_VALUES, ("1", "9223372036854775808")):
                path = re.sub(
                    r"\{[^}]+\}",
                    lambda m, row=row: row if "id" in m.group(0) else "acme",
                    route.path,
                )
                # "what" picks a branch in some forms (revoke a serial, a key id or a key).
                for what in (value, "serial", "key_id", "key"):
                    form = {"csrf_token": token, **dict.fromkeys(FIELDS, value), "what": what}
                    response = browser.http.post(path, data=form)
                    posted += 1
                    assert response.status_code < 500, (path, value[:20], response.text[:500])
    assert posted > 50
