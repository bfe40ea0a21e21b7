"""The admin API under /api/v1, in process through the real app (httpx + ASGI)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gitward.ca.krl import decode_krl
from gitward.keys.api import export_public_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, managed_ca, orgs, repositories, tokens
from gitward.services.context import Context
from gitward.services.issuing import Issuer, IssueRequest
from tests.services.issuing_world import with_secret
from tests.web.asgi import app_client

ALL = tuple(sorted(tokens.SCOPES))


def line(comment: str = "k") -> str:
    return export_public_key(generate_key("ed25519", comment=comment)).decode().strip()


class Api:
    def __init__(self, http: httpx.Client, ctx: Context) -> None:
        self.http, self.ctx = http, ctx

    def token(self, user: str, *scopes: str) -> dict[str, str]:
        made = tokens.create_token(self.ctx, user, scopes=scopes or ALL)
        return {"Authorization": f"Bearer {made.token}"}

    def __call__(self, method: str, path: str, who: dict[str, str], **kw: Any) -> httpx.Response:
        return self.http.request(method, "/api/v1" + path, headers=who, **kw)


@pytest.fixture
def api(ctx: Context) -> Iterator[Api]:
    ctx = with_secret(ctx)
    accounts.create_user(ctx, "ops", site_admin=True)
    for name in ("bob", "carol"):
        accounts.create_user(ctx, name)
    orgs.create_org(ctx, "acme")
    orgs.add_member(ctx, "acme", "bob", "owner")
    orgs.add_member(ctx, "acme", "carol", "member")
    repositories.create_repo(ctx, "acme/app")
    with app_client(ctx) as http:
        yield Api(http, ctx)


def test_ok_user_keys_crud_with_github_fields(api: Api) -> None:
    bob = api.token("bob", "write:public_key")
    key = line("bob@laptop")
    made = api("POST", "/user/keys", bob, json={"title": "laptop", "key": key})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["key"] == " ".join(key.split()[:2]) and body["title"] == "laptop"
    assert body["read_only"] is True and body["verified"] is True and body["bits"] == 256
    assert body["last_used"] is None and body["fingerprint"].startswith("SHA256:")
    listed = api("GET", "/user/keys", bob).json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert api("GET", f"/user/keys/{body['id']}", bob).json()["title"] == "laptop"
    again = api("POST", "/user/keys", bob, json={"key": key})
    assert again.status_code == 409 and again.json()["error"]["message"] == "key is already in use"
    bad = api("POST", "/user/keys", bob, json={"key": "ssh-dss AAAA"})
    assert bad.status_code == 422 and "DSA keys are not accepted" in bad.json()["error"]["message"]
    # Another user's key id is "not found".
    carol = api.token("carol", "write:public_key")
    assert api("DELETE", f"/user/keys/{body['id']}", carol).status_code == 404
    assert api("DELETE", f"/user/keys/{body['id']}", bob).status_code == 204
    assert api("GET", "/user/keys", bob).json() == []


def test_fail_scopes_are_enforced_and_old_tokens_keep_theirs(api: Api) -> None:
    issue_only = api.token("bob", "cert:issue")  # what `gitward token create` makes by default
    response = api("GET", "/user/keys", issue_only)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "insufficient_scope",
        "message": "the access token lacks the read:public_key scope",
    }
    read_only = api.token("bob", "read:public_key")
    assert api("GET", "/user/keys", read_only).status_code == 200
    assert api("POST", "/user/keys", read_only, json={"key": line()}).status_code == 403
    assert api("GET", "/user/keys", {}).status_code == 401
    assert api("GET", "/user/keys", {"Authorization": "Bearer gwp_nope"}).status_code == 401
    # The API never takes the browser's cookie.
    api.http.cookies.set("gw_session", "anything", domain="localhost.local")
    assert api("GET", "/user", {}).status_code == 401


def test_fail_admin_endpoints_are_not_found_for_non_admins(api: Api) -> None:
    bob = api.token("bob")  # every scope, but not a site admin
    for path in (
        "/admin/users",
        "/admin/ssh-certificates",
        "/admin/audit-log",
        "/admin/krl",
        "/admin/keys?fingerprint=SHA256:" + "A" * 43,
    ):
        assert api("GET", path, bob).status_code == 404, path
    ops_no_scope = api.token("ops", "read:public_key")
    assert api("GET", "/admin/users", ops_no_scope).status_code == 403


def test_ok_admin_manages_users_and_their_keys(api: Api) -> None:
    ops = api.token("ops")
    made = api("POST", "/admin/users", ops, json={"login": "dave"})
    assert made.status_code == 201 and "/invite/" in made.json()["invitation_url"]
    assert (
        api("PATCH", "/admin/users/dave", ops, json={"login": "david"}).json()["login"] == "david"
    )
    assert api("PUT", "/users/david/suspended", ops).status_code == 204
    assert [
        u["suspended"] for u in api("GET", "/admin/users", ops).json() if u["login"] == "david"
    ] == [True]
    assert api("DELETE", "/users/david/suspended", ops).status_code == 204
    key = line("davids")
    added = api("POST", "/admin/users/david/keys", ops, json={"key": key})
    assert added.status_code == 201
    assert [k["id"] for k in api("GET", "/admin/users/david/keys", ops).json()] == [
        added.json()["id"]
    ]
    # The admin is told where a key is already in use.
    clash = api("POST", "/admin/users/bob/keys", ops, json={"key": key})
    assert clash.status_code == 409
    assert clash.json()["error"]["message"] == "key is already in use: user key of david (davids)"
    holder = api("GET", "/admin/keys", ops, params={"fingerprint": added.json()["fingerprint"]})
    assert holder.json()["kind"] == "user key" and holder.json()["owner"] == "david"
    assert api("DELETE", f"/admin/users/david/keys/{added.json()['id']}", ops).status_code == 204


def test_ok_repository_urls_deploy_keys_and_collaborators(api: Api) -> None:
    bob = api.token("bob")
    org_id = orgs.list_orgs(api.ctx)[0].id
    repo = api("GET", "/repos/acme/app", bob).json()
    assert repo["ssh_url"] == "git@git.example.com:acme/app.git"
    assert repo["ssh_certificate_url"] == f"org-{org_id}@git.example.com:acme/app.git"
    assert (
        repo["owner"] == {"login": "acme", "type": "Organization"} and repo["permission"] == "admin"
    )
    deploy = api(
        "POST", "/repos/acme/app/keys", bob, json={"title": "ci", "key": line(), "read_only": False}
    )
    assert deploy.status_code == 201 and deploy.json()["read_only"] is False
    assert len(api("GET", "/repos/acme/app/keys", bob).json()) == 1
    carol = api.token("carol")
    assert api("GET", "/repos/acme/app", carol).json()["permission"] == "read"
    assert api("GET", "/repos/acme/app/keys", carol).status_code == 404  # not an admin there
    outsider = accounts.create_user(api.ctx, "eve") and api.token("eve")
    assert api("GET", "/repos/acme/app", outsider).status_code == 404
    put = api("PUT", "/repos/acme/app/collaborators/eve", bob, json={"permission": "push"})
    assert put.json() == {
        "login": "eve",
        "permission": "write",
        "permissions": {"pull": True, "push": True, "admin": False},
    }
    assert api("GET", "/repos/acme/app", outsider).json()["permission"] == "write"
    assert api("DELETE", "/repos/acme/app/collaborators/eve", bob).status_code == 204
    assert api("DELETE", f"/repos/acme/app/keys/{deploy.json()['id']}", bob).status_code == 204
    mine = api("POST", "/user/repos", carol, json={"name": "notes"})
    assert mine.status_code == 201 and mine.json()["ssh_certificate_url"] is None
    assert api("POST", "/orgs/acme/repos", carol, json={"name": "x"}).status_code == 404


def test_ok_pagination_uses_github_link_headers(api: Api) -> None:
    for index in range(5):
        repositories.create_repo(api.ctx, f"acme/r{index}")
    bob = api.token("bob")
    first = api("GET", "/orgs/acme/repos", bob, params={"per_page": 2})
    assert len(first.json()) == 2 and first.headers["x-total-count"] == "6"
    links = first.headers["link"]
    assert (
        "page=2" in links and 'rel="next"' in links and "page=3" in links and 'rel="last"' in links
    )
    last = api("GET", "/orgs/acme/repos", bob, params={"per_page": 2, "page": 3})
    assert len(last.json()) == 2 and 'rel="prev"' in last.headers["link"]
    assert "next" not in last.headers["link"]
    names = {
        r["name"]
        for p in (1, 2, 3)
        for r in api("GET", "/orgs/acme/repos", bob, params={"per_page": 2, "page": p}).json()
    }
    assert len(names) == 6
    assert api("GET", "/orgs/acme/repos", bob, params={"per_page": 101}).status_code == 422


def test_ok_org_cas_requirement_and_preview(api: Api) -> None:
    bob = api.token("bob")
    base = "/orgs/acme/ssh-certificate-authorities"
    added = api("POST", base, bob, json={"key": line("acme-ca")})
    assert added.status_code == 201 and added.json()["managed"] is False
    managed = api("POST", base, bob, json={"managed": True})
    assert managed.status_code == 201 and managed.json()["managed"] is True
    listed = api("GET", base, bob).json()
    assert {c["id"] for c in listed} == {added.json()["id"], managed.json()["id"]}
    retired = api(
        "PATCH", f"{base}/{added.json()['id']}", bob, json={"retired_at": "2030-01-31T00:00:00Z"}
    )
    assert retired.json()["retired_at"].startswith("2030-01-31")
    assert api("DELETE", f"{base}/{added.json()['id']}", bob).status_code == 204
    carol = api.token("carol")
    assert api("GET", base, carol).status_code == 404  # a member, not an owner
    assert api("GET", "/orgs/acme/ssh-certificate-requirement/preview", bob).json() == []
    on = api("PATCH", "/orgs/acme", bob, json={"require_ssh_certificates": True})
    assert on.json()["require_ssh_certificates"] is True
    assert (
        api("PATCH", "/orgs/acme", carol, json={"require_ssh_certificates": False}).status_code
        == 404
    )
    ops = api.token("ops")
    assert api("POST", "/admin/enterprises", ops, json={"name": "megacorp"}).status_code == 201
    ent = api(
        "POST", "/enterprises/megacorp/ssh-certificate-authorities", ops, json={"key": line()}
    )
    assert ent.status_code == 201 and ent.json()["owner_kind"] == "enterprise"
    assert api("GET", "/enterprises/megacorp/ssh-certificate-authorities", bob).status_code == 404


def test_ok_certificate_inventory_filters_and_revocation_and_the_krl(api: Api) -> None:
    ca = managed_ca.create_managed_ca(api.ctx, org="acme")
    issuer = Issuer(api.ctx)
    carol_id = accounts.list_users(api.ctx)[2].id
    serials = [
        issuer.issue_as(carol_id, IssueRequest(public_key=line(), validity="1h")).issued.serial
        for _ in range(3)
    ]
    ops = api.token("ops")
    listed = api("GET", "/admin/ssh-certificates", ops, params={"user": "carol", "status": "valid"})
    assert sorted(c["serial"] for c in listed.json()) == sorted(serials)
    done = api("POST", "/admin/ssh-certificates/revocations", ops, json={"serial": serials[0]})
    assert done.status_code == 201 and done.json()["kind"] == "serial"
    by_key_id = api(
        "POST", "/admin/ssh-certificates/revocations", ops, json={"key_id": f"carol-{serials[1]}"}
    )
    assert by_key_id.status_code == 201
    revoked = api("GET", "/admin/ssh-certificates", ops, params={"status": "revoked"}).json()
    assert sorted(c["serial"] for c in revoked) == sorted(serials[:2])
    valid = api("GET", "/admin/ssh-certificates", ops, params={"status": "valid"}).json()
    assert [c["serial"] for c in valid] == [serials[2]]
    assert (
        api(
            "GET",
            "/admin/ssh-certificates",
            ops,
            params={"ca": ca.fingerprint, "expiring_before": "2000-01-01T00:00:00Z"},
        ).json()
        == []
    )
    krl = api("GET", "/admin/krl", ops)
    assert krl.headers["content-type"] == "application/octet-stream"
    sections = decode_krl(krl.content).cert_sections
    assert any((serials[0], serials[0]) in s.serials for s in sections)
    # The owner of a certificate revokes it too, and sees it revoked.
    carol = api.token("carol")
    assert api("POST", f"/user/ssh-certificates/{serials[2]}/revoke", carol).status_code == 200
    assert {c["status"] for c in api("GET", "/user/ssh-certificates", carol).json()} == {"revoked"}


def test_ok_audit_log_filters_and_pages(api: Api) -> None:
    ops = api.token("ops")
    for index in range(4):
        api("POST", "/user/keys", api.token("bob"), json={"key": line(f"k{index}")})
    found = api("GET", "/admin/audit-log", ops, params={"action": "key.add", "per_page": 3})
    assert len(found.json()) == 3 and found.headers["x-total-count"] == "4"
    assert {e["actor"] for e in found.json()} == {"bob"}
    assert 'rel="next"' in found.headers["link"]
    denied = api("GET", "/admin/audit-log", ops, params={"outcome": "denied"}).json()
    assert all(e["outcome"] == "denied" for e in denied)
    future = api("GET", "/admin/audit-log", ops, params={"after": "2099-01-01T00:00:00Z"}).json()
    assert future == []


def test_ok_openapi_documents_the_admin_api(api: Api) -> None:
    schema = api.http.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/user/keys",
        "/api/v1/user/keys/{key_id}",
        "/api/v1/admin/users/{username}/keys",
        "/api/v1/repos/{owner}/{repo}/keys",
        "/api/v1/repos/{owner}/{repo}",
        "/api/v1/orgs/{name}/ssh-certificate-authorities",
        "/api/v1/orgs/{org}",
        "/api/v1/enterprises/{name}/ssh-certificate-authorities",
        "/api/v1/admin/ssh-certificates",
        "/api/v1/admin/ssh-certificates/revocations",
        "/api/v1/admin/krl",
        "/api/v1/admin/audit-log",
    ):
        assert path in paths, path
    assert "ssh_certificate_url" in schema["components"]["schemas"]["RepoOut"]["properties"]
    assert not any(p.startswith("/settings") or p.startswith("/admin/") for p in paths)
