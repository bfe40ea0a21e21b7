"""POST/GET /api/v1/ssh/certificates through the real app (ASGI, in-process)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gitward.ca.certificate import parse_certificate_line
from gitward.errors import ConfigurationError
from gitward.http.app import create_app
from gitward.keys.api import export_private_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, managed_ca, orgs, tokens
from gitward.services.context import Context
from tests.services.issuing_world import World, public_line

URL = "/api/v1/ssh/certificates"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: httpx.Client, token: str | None, **body: Any) -> Any:
    body.setdefault("public_key", public_line())
    headers = auth(token) if token else {}
    return client.post(URL, json=body, headers=headers)


def test_ok_issues_for_the_caller(client: httpx.Client, world: World) -> None:
    response = post(
        client,
        world.alice_token,
        organization="acme",
        validity="8h",
        bind_source_address=True,
        options=["no-pty"],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    cert = parse_certificate_line(body["certificate"])
    assert cert.extensions["login@git.example.com"] == "alice"
    assert dict(cert.critical_options) == {"source-address": "127.0.0.1"}
    assert "permit-pty" not in cert.extensions
    org_id = body["organization"]["id"]
    assert body["clone_prefix"] == f"org-{org_id}@git.example.com"
    assert body["hostname"] == "git.example.com" and body["ssh_port"] == 22
    assert body["requester_address"] == "127.0.0.1"
    assert cert.valid_before - cert.valid_after <= 8 * 3600 + 119


def test_ok_list_is_the_callers_own(client: httpx.Client, world: World) -> None:
    serial = post(client, world.alice_token).json()["serial"]
    mine = client.get(URL, headers=auth(world.alice_token)).json()["certificates"]
    assert [c["serial"] for c in mine] == [serial]
    assert client.get(URL, headers=auth(world.bob_token)).json() == {"certificates": []}
    assert (
        client.get(URL + "?valid_now=true", headers=auth(world.alice_token)).json()["certificates"][
            0
        ]["serial"]
        == serial
    )


def test_ok_openapi_documents_the_endpoint(client: httpx.Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    post_op = schema["paths"][URL]["post"]
    assert set(post_op["responses"]) >= {"201", "401", "403", "409", "422"}
    assert "get" in schema["paths"][URL]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def _private() -> str:
    return export_private_key(generate_key("ed25519"), "openssh").decode()


FAILURES = [
    ("fail/no_token", None, {}, 401, "unauthenticated"),
    ("fail/bad_token", "gwp_" + "x" * 43, {}, 401, "unauthenticated"),
    ("fail/not_a_member", "bob", {"organization": "acme"}, 403, "forbidden"),
    ("fail/private_key", "alice", {"public_key": "PRIVATE"}, 422, "invalid_key"),
    ("fail/garbage_key", "alice", {"public_key": "not a key"}, 422, "invalid_key"),
    ("fail/over_the_cap", "alice", {"validity": "2d"}, 422, "lifetime_too_long"),
    ("fail/option", "alice", {"options": ["permit-pty"]}, 422, "option_not_allowed"),
    ("fail/schema", "alice", {"options": "no-pty"}, 422, "invalid_request"),
]


@pytest.mark.parametrize(
    ("name", "who", "body", "status", "code"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_fail_refusals_are_json(
    client: httpx.Client,
    world: World,
    name: str,
    who: str | None,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    token = {"alice": world.alice_token, "bob": world.bob_token}.get(who or "", who)
    if body.get("public_key") == "PRIVATE":
        body = {**body, "public_key": _private()}
    response = post(client, token, **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if body.get("public_key", "").startswith("-----"):
        assert "PRIVATE" not in response.text  # nothing of the secret echoed back


def test_fail_expired_token_and_scope(client: httpx.Client, world: World) -> None:
    reader = tokens.create_token(world.ctx, "alice", scopes=("cert:read",)).token
    response = post(client, reader)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "insufficient_scope")
    assert client.get(URL, headers=auth(reader)).status_code == 200


def test_fail_suspended(client: httpx.Client, world: World) -> None:
    accounts.set_suspended(world.ctx, "alice", True)
    assert post(client, world.alice_token).status_code == 403


def test_fail_org_without_managed_ca(client: httpx.Client, world: World) -> None:
    orgs.create_org(world.ctx, "bare")
    orgs.add_member(world.ctx, "bare", "bob")
    response = post(client, world.bob_token, organization="bare")
    assert response.status_code == 409
    assert "gitward ca create --org bare" in response.json()["error"]["message"]


def test_ok_cap_is_per_organization(client: httpx.Client, world: World) -> None:
    managed_ca.set_max_lifetime(world.ctx, "acme", 3600)
    assert post(client, world.alice_token, validity="2h").status_code == 422
    assert post(client, world.alice_token, validity="1h").status_code == 201


def test_ok_app_without_secret_on_postgres_disables_only_issuing(ctx: Context) -> None:
    """PostgreSQL without ca_secret: the web UI and the admin API come up; issuing says why
    it is off (it used to refuse to start at all)."""
    if not ctx.settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("SQLite generates its secret")
    from tests.web.asgi import app_client

    app = create_app(ctx)
    assert app.state.issuer is None and "needs a secret" in app.state.issuing_disabled
    accounts.create_user(ctx, "alice")
    token = tokens.create_token(ctx, "alice", scopes=("cert:issue", "read:public_key")).token
    with app_client(ctx) as http:
        issued = http.post(URL, json={"public_key": public_line()}, headers=auth(token))
        assert issued.status_code == 503
        assert issued.json()["error"]["code"] == "issuing_disabled"
        assert "needs a secret" in issued.json()["error"]["message"]
        assert http.get(URL, headers=auth(token)).json() == {"certificates": []}
        assert http.get("/api/v1/user/keys", headers=auth(token)).status_code == 200
        assert http.get("/login").status_code == 200


def test_fail_http_server_reports_a_taken_port(world: World) -> None:
    import socket

    from gitward.http.server import HttpServer

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = HttpServer(world.ctx, "127.0.0.1", busy.getsockname()[1])
        with pytest.raises(ConfigurationError, match="cannot listen for HTTP"):
            server.start()


def test_ok_forwarded_for_is_not_believed(client: httpx.Client, world: World) -> None:
    body = {"public_key": public_line(), "bind_source_address": True}
    response = client.post(
        URL, json=body, headers={**auth(world.alice_token), "X-Forwarded-For": "198.51.100.1"}
    )
    assert response.json()["critical_options"] == {"source-address": "127.0.0.1"}


def test_ok_forwarded_for_is_believed_from_a_trusted_proxy(world: World) -> None:
    import dataclasses

    from tests.http.live import live_server

    settings = world.ctx.settings.model_copy(update={"http_trusted_proxies": "127.0.0.0/8"})
    ctx = dataclasses.replace(world.ctx, settings=settings)
    body = {"public_key": public_line(), "bind_source_address": True}
    headers = {**auth(world.alice_token), "X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
    with live_server(ctx) as base, httpx.Client(base_url=base) as http:
        response = http.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    # The nearest address the trusted proxy did not add itself: the last one it appended.
    assert response.json()["critical_options"] == {"source-address": "198.51.100.1"}
    assert response.json()["requester_address"] == "198.51.100.1"
