from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gitward.services import accounts, orgs, passwords, repositories
from gitward.services.context import Context
from tests.services.conftest import ctx  # noqa: F401  (the fixture, reused)
from tests.services.issuing_world import with_secret
from tests.web.asgi import app_client

PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Browser:
    """An httpx client with the habits of a browser: it fetches a form, then posts it with
    the CSRF token the page carried."""

    http: httpx.Client

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.http.get(path, **kw)  # type: ignore[arg-type]

    def post_form(self, page: str, action: str | None = None, **fields: str) -> httpx.Response:
        token = csrf_of(self.http.get(page).text)
        return self.http.post(action or page, data={"csrf_token": token, **fields})

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        response = self.post_form("/login", username=username, password=password)
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def site(ctx: Context) -> Context:  # noqa: F811
    """alice (site admin), bob (owner of acme), carol (member of acme), acme/app."""
    ctx = with_secret(ctx)
    accounts.create_user(ctx, "alice", site_admin=True)
    accounts.create_user(ctx, "bob")
    accounts.create_user(ctx, "carol")
    for name in ("alice", "bob", "carol"):
        passwords.set_password(ctx, name, PASSWORD)
    orgs.create_org(ctx, "acme")
    orgs.add_member(ctx, "acme", "bob", "owner")
    orgs.add_member(ctx, "acme", "carol", "member")
    repositories.create_repo(ctx, "acme/app")
    return ctx


@pytest.fixture
def browser(site: Context) -> Iterator[Browser]:
    with app_client(site) as http:
        yield Browser(http)


@pytest.fixture
def make_browser(site: Context) -> Iterator[object]:
    """More browsers (or frontends: each gets its own app on the same database)."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def make() -> Browser:
            return Browser(stack.enter_context(app_client(site)))

        yield make


def use_cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its real cost takes ~0.1 s a hash on purpose; the tests sign in hundreds
    of times, and what they check does not depend on the cost."""
    from argon2 import PasswordHasher

    from gitward.services import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("gitward: no such account"))


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_argon2(monkeypatch)
