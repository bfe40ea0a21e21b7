"""The web UI's security properties, each as a user (or an attacker) would meet it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from gitward.keys.api import export_private_key, export_public_key
from gitward.keys.generate import generate_key
from gitward.services import signin, tokens
from gitward.services.context import Context
from gitward.store.db import transaction
from gitward.store.models import WebSession
from tests.web.asgi import app_client
from tests.web.conftest import PASSWORD, Browser, csrf_of

MakeBrowser = Callable[[], Browser]


def public_line(comment: str = "me@laptop") -> str:
    return export_public_key(generate_key("ed25519", comment=comment)).decode().strip()


def test_ok_every_page_has_csp_and_frame_ancestors(browser: Browser) -> None:
    for path in ("/login", "/static/gitward.css", "/no-such-page"):
        headers = browser.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_ok_session_cookie_is_httponly_samesite_and_not_secure_on_http(browser: Browser) -> None:
    cookie = browser.sign_in("bob").headers["set-cookie"]
    assert "gw_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost: a Secure cookie would be dropped


def test_ok_session_cookie_is_secure_when_served_over_https(site: Context) -> None:
    https = dataclasses.replace(
        site, settings=site.settings.model_copy(update={"web_url": "https://git.example.com"})
    )
    with app_client(https, base_url="https://git.example.com") as http:
        page = http.get("/login")
        response = http.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": "bob", "password": PASSWORD},
        )
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_ok_session_id_is_rotated_at_sign_in(browser: Browser, site: Context) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    browser.http.cookies.set("gw_session", planted, domain="localhost.local")
    browser.sign_in("bob")
    issued = browser.http.cookies.get("gw_session")
    assert issued and issued != planted
    with transaction(site.engine) as session:
        ids = [row.id for row in session.query(WebSession).all()]
    assert signin.digest(issued) in ids and signin.digest(planted) not in ids
    # Signing in again (the form posted from a signed-in page) ends the first session.
    token = csrf_of(browser.get("/settings/keys").text)
    browser.http.post("/login", data={"csrf_token": token, "username": "bob", "password": PASSWORD})
    again = browser.http.cookies.get("gw_session")
    assert again != issued
    browser.http.cookies.set("gw_session", issued, domain="localhost.local")
    assert browser.get("/settings/keys").status_code == 303  # to /login


def test_ok_sessions_live_in_the_database_and_sign_out_ends_them_everywhere(
    make_browser: MakeBrowser,
) -> None:
    first, second = make_browser(), make_browser()  # two frontends, one database
    first.sign_in("bob")
    cookie = first.http.cookies.get("gw_session")
    assert cookie
    second.http.cookies.set("gw_session", cookie, domain="localhost.local")
    assert second.get("/settings/keys").status_code == 200  # the other frontend knows it
    assert first.post_form("/settings/security", "/logout").status_code == 303
    assert second.get("/settings/keys").status_code == 303  # ended there too
    # "Sign out everywhere" ends every session of the user.
    first.sign_in("bob")
    second.sign_in("bob")
    first.post_form("/settings/security", "/logout", everywhere="yes")
    response = second.get("/settings/keys")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    "case",
    ["fail/no_token", "fail/wrong_token", "fail/other_origin", "fail/anonymous_login_no_token"],
)
def test_fail_state_changing_forms_need_csrf(browser: Browser, case: str) -> None:
    if case == "fail/anonymous_login_no_token":
        response = browser.http.post("/login", data={"username": "bob", "password": PASSWORD})
        assert response.status_code == 403
        assert "gw_session" not in response.headers.get("set-cookie", "")
        return
    browser.sign_in("bob")
    token = csrf_of(browser.get("/settings/keys").text)
    data = {"key": public_line(), "title": "sneaky"}
    headers = {}
    if case == "fail/wrong_token":
        data["csrf_token"] = token[:-2] + "xx"
    elif case == "fail/other_origin":
        data["csrf_token"] = token
        headers["Origin"] = "http://evil.example"
    response = browser.http.post("/settings/keys", data=data, headers=headers)
    assert response.status_code == 403, response.text
    assert "sneaky" not in browser.get("/settings/keys").text


def test_ok_same_token_and_origin_passes(browser: Browser) -> None:
    browser.sign_in("bob")
    token = csrf_of(browser.get("/settings/keys").text)
    response = browser.http.post(
        "/settings/keys",
        data={"csrf_token": token, "key": public_line(), "title": "fine"},
        headers={"Origin": "http://localhost:8080"},
    )
    assert response.status_code == 303


def test_fail_sign_in_is_throttled_per_account_and_per_address(
    browser: Browser, make_browser: MakeBrowser, site: Context
) -> None:
    limit = site.settings.signin_max_failures_per_account
    for _ in range(limit):
        response = browser.post_form("/login", username="bob", password="wrong password!")
        assert response.status_code == 403 and "wrong user name or password" in response.text
    # Now even the right password waits, from any frontend: the count is in the database.
    other = make_browser()
    response = other.post_form("/login", username="bob", password=PASSWORD)
    assert response.status_code == 429 and "too many failed sign-ins" in response.text
    # Another account from the same address still works until the per-address limit.
    assert other.post_form("/login", username="carol", password=PASSWORD).status_code == 303


def test_fail_per_address_limit_covers_every_account_name(site: Context) -> None:
    from gitward.services.signin import SignInRefused, SignInThrottled, sign_in_password

    limit = site.settings.signin_max_failures_per_address
    for index in range(limit):
        with pytest.raises(SignInRefused):
            sign_in_password(site, f"nobody{index}", "guess guess guess", peer="203.0.113.9")
    with pytest.raises(SignInThrottled):
        sign_in_password(site, "carol", PASSWORD, peer="203.0.113.9")
    assert sign_in_password(site, "carol", PASSWORD, peer="203.0.113.10").token


def test_fail_member_who_is_not_owner_gets_404_on_ca_settings(browser: Browser) -> None:
    browser.sign_in("carol")  # a member of acme, not an owner
    assert browser.get("/orgs/acme").status_code == 200
    page = browser.get("/orgs/acme/settings/certificate-authorities")
    assert page.status_code == 404
    assert page.text.count("no organization named") == 1
    # The same answer as for an organization that does not exist.
    missing = browser.get("/orgs/nosuch/settings/certificate-authorities")
    assert missing.status_code == 404 and "no organization named" in missing.text
    # And the POST is refused the same way.
    response = browser.post_form(
        "/orgs/acme", "/orgs/acme/settings/certificate-authorities", public_key=public_line()
    )
    assert response.status_code == 404


def test_ok_script_in_key_title_and_comment_is_escaped(
    browser: Browser, make_browser: MakeBrowser
) -> None:
    browser.sign_in("bob")
    evil = "<script>alert(1)</script>"
    assert browser.post_form("/settings/keys", key=public_line(evil)).status_code == 303
    assert browser.post_form("/settings/keys", key=public_line("x"), title=evil).status_code == 303
    page = browser.get("/settings/keys").text
    assert evil not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    admin = make_browser()
    admin.sign_in("alice")
    admin_page = admin.get("/admin/users/bob").text
    assert evil not in admin_page and "&lt;script&gt;" in admin_page


def test_ok_no_private_key_is_rendered_back(browser: Browser) -> None:
    browser.sign_in("bob")
    private = export_private_key(generate_key("ed25519"), "openssh").decode()
    response = browser.post_form("/settings/keys", key=private)
    assert response.status_code == 422
    assert "this is a private key; upload the .pub file" in response.text
    assert "PRIVATE KEY" not in response.text
    body = private.splitlines()[1]
    assert body not in response.text


def test_ok_a_new_token_is_shown_once_and_never_again(browser: Browser, site: Context) -> None:
    browser.sign_in("bob")
    page = browser.post_form("/settings/tokens", title="laptop", scopes="cert:issue")
    assert page.status_code == 200
    secret = [word for word in page.text.split('"') if word.startswith(tokens.PREFIX)]
    assert len(set(secret)) == 1 and len(secret[0]) == 47
    assert page.headers["cache-control"] == "no-store"
    later = browser.get("/settings/tokens").text
    assert secret[0] not in later and secret[0][:8] in later  # the hint only
