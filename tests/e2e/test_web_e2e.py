"""The web UI and the admin API against a real `gitward serve` (issue 13): the first-run
setup link in the banner, `ssh git@HOST login`, and the API over TCP with the real port."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from gitward.services import accounts, orgs, repositories, tokens
from gitward.services.context import Context
from tests.e2e.harness import Client, Server, server_env
from tests.web.conftest import PASSWORD, csrf_of

MakeClient = Callable[..., Client]


def _banner(server: Server) -> str:
    return (server.data_dir.parent / f"serve-{id(server)}.out").read_text()


def test_ok_first_run_banner_prints_a_setup_link_that_makes_a_site_admin(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", server_env()).start()
    try:
        banner = _banner(server)
        assert server.http_url is not None
        web = re.search(r"web UI +: (http://\S+)/", banner)
        link = re.search(r"first run +: open (http://\S+/setup/\S+)", banner)
        assert web and link, banner
        assert web.group(1) == f"http://gitward.test:{server.http_url.rsplit(':', 1)[1]}"
        path = link.group(1).split("/setup/", 1)[1]
        with httpx.Client(base_url=server.http_url) as http:
            page = http.get(f"/setup/{path}")
            assert page.status_code == 200
            done = http.post(
                f"/setup/{path}",
                data={
                    "csrf_token": csrf_of(page.text),
                    "username": "boss",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                },
            )
            assert done.status_code == 303, done.text
            assert "Signed in as <strong>boss</strong>" in http.get("/").text
            assert "site admin" in http.get("/admin/users").text
        server.stop()
        server.start()
        assert "first run" not in _banner(server)
    finally:
        server.stop()


def test_ok_ssh_login_prints_a_link_that_signs_in_once(
    admin: Context, make_client: MakeClient, server: Server
) -> None:
    assert server.http_url is not None
    accounts.create_user(admin, "web-alice")
    dev = make_client()
    accounts.add_key(admin, "web-alice", Path(f"{dev.key}.pub").read_bytes(), title="laptop")
    result = dev.ssh("login")
    assert result.code == 0, result.err
    assert "Hi web-alice! Open this link to sign in" in result.err
    url = re.search(r"(http://\S+/login/ssh/\S+)", result.err)
    assert url, result.err
    path = "/login/ssh/" + url.group(1).split("/login/ssh/", 1)[1]
    with httpx.Client(base_url=server.http_url) as http:
        page = http.get(path)
        assert "Sign in as web-alice" in page.text
        assert http.post(path, data={"csrf_token": csrf_of(page.text)}).status_code == 303
        keys = http.get("/settings/keys").text
        assert "laptop" in keys and "from 127.0.0.1" in keys  # the ssh login itself
        http.cookies.clear()
        assert http.get(path).status_code == 403  # used


def test_fail_deploy_keys_cannot_sign_in(admin: Context, make_client: MakeClient) -> None:
    orgs.create_org(admin, "web-dk")
    repositories.create_repo(admin, "web-dk/app")
    deploy = make_client()
    repositories.add_deploy_key(admin, "web-dk/app", Path(f"{deploy.key}.pub").read_bytes())
    result = deploy.ssh("login")
    assert result.code == 1
    assert result.err.strip() == "ERROR: Deploy keys cannot sign in to the web UI."


def test_ok_admin_api_over_tcp_names_the_real_ssh_port(admin: Context, server: Server) -> None:
    assert server.http_url is not None
    accounts.create_user(admin, "web-bob")
    org = orgs.create_org(admin, "web-acme")
    orgs.add_member(admin, "web-acme", "web-bob", "owner")
    repositories.create_repo(admin, "web-acme/app")
    token = tokens.create_token(admin, "web-bob", scopes=("repo", "write:public_key")).token
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.http_url + "/api/v1", headers=auth) as api:
        repo = api.get("/repos/web-acme/app").json()
        assert repo["ssh_url"] == f"ssh://git@gitward.test:{server.port}/web-acme/app.git"
        assert repo["ssh_certificate_url"] == (
            f"ssh://org-{org.id}@gitward.test:{server.port}/web-acme/app.git"
        )
        for index in range(3):
            made = api.post("/user/keys", json={"key": _pub(index), "title": f"k{index}"})
            assert made.status_code == 201, made.text
        first = api.get("/user/keys", params={"per_page": 2})
        assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
        follow = re.search(r"<([^>]+)>; rel=\"next\"", first.headers["link"])
        assert follow
        assert len(httpx.get(follow.group(1), headers=auth).json()) == 1


def _pub(index: int) -> str:
    from gitward.keys.api import export_public_key
    from gitward.keys.generate import generate_key

    return export_public_key(generate_key("ed25519", comment=f"k{index}")).decode().strip()
