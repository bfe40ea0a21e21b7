"""The connector's administration under /api/v1/connector, in process through the real app
(httpx + ASGI): the key, hosts and pins (against a real sshd on a loopback port),
repositories with test verdicts; site admins' site_admin tokens only; the API's error
shape; Link paging; the OpenAPI schema."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitward.keys.api import export_public_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, connector_hosts, connector_keys, tokens
from gitward.services.context import Context
from tests.e2e.connector_helpers import make_upstream
from tests.e2e.sshd_git import USER, GitShellSshd, needs_sshd
from tests.services.issuing_world import with_secret
from tests.web.asgi import app_client

KEYS = Path(__file__).parents[1] / "vectors" / "keys"
PASSPHRASE = "correct horse"  # every encrypted vector's (tests/vectors/make_key_vectors.sh)
API = "/api/v1/connector"


class Api:
    def __init__(self, http: httpx.Client, ctx: Context) -> None:
        self.http, self.ctx = http, ctx

    def token(self, user: str, *scopes: str) -> dict[str, str]:
        made = tokens.create_token(self.ctx, user, scopes=scopes or ("site_admin",))
        return {"Authorization": f"Bearer {made.token}"}

    def __call__(self, method: str, path: str, who: dict[str, str], **kw: Any) -> httpx.Response:
        return self.http.request(method, API + path, headers=who, **kw)


@pytest.fixture
def api(ctx: Context) -> Iterator[Api]:
    ctx = with_secret(ctx)
    accounts.create_user(ctx, "ops", site_admin=True)
    accounts.create_user(ctx, "bob")
    with app_client(ctx) as http:
        yield Api(http, ctx)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[GitShellSshd]:
    server = GitShellSshd(tmp_path / "sshd").start()
    try:
        yield server
    finally:
        server.stop()


def _ppk() -> str:
    return (KEYS / "puttygen_ed25519_enc.ppk").read_text()


def test_ok_import_an_encrypted_ppk_and_get_only_the_public_part(api: Api) -> None:
    ops = api.token("ops")
    assert api("GET", "/key", ops).json() == {"active": None, "pending": None, "old_key_only": []}
    missing = api("POST", "/key/import", ops, json={"private_key": _ppk(), "filename": "a.ppk"})
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == (
        'a.ppk is encrypted: give its passphrase in the "passphrase" field'
    )
    made = api("POST", "/key/import", ops, json={"private_key": _ppk(), "passphrase": PASSPHRASE})
    assert made.status_code == 201, made.text
    blob = (KEYS / "puttygen_ed25519.openssh.pub").read_text().split()[1]
    active = made.json()["active"]
    assert active["public_key"] == f"ssh-ed25519 {blob} gitward-connector"
    assert active["state"] == "active" and active["bits"] == 256
    shown = api("GET", "/key", ops)
    assert shown.json() == made.json()
    assert "PRIVATE" not in shown.text and "PuTTY" not in shown.text
    again = api("POST", "/key/import", ops, json={"private_key": _ppk(), "passphrase": PASSPHRASE})
    assert again.status_code == 422
    assert again.json()["error"]["message"] == "this key is already the connector's active key"


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ("puttygen_ed25519.openssh.pub", "is a public key"),
        ("sshkeygen_dsa.openssh", "DSA"),
        ("openssl_rsa1024.pkcs8", "1024"),
    ],
    ids=["fail/public-key", "fail/dsa", "fail/rsa-1024"],
)
def test_fail_import_refusals_are_the_services_words(api: Api, file: str, words: str) -> None:
    data = (KEYS / file).read_bytes()
    answer = api(
        "POST",
        "/key/import",
        api.token("ops"),
        json={"private_key_base64": base64.b64encode(data).decode(), "filename": file},
    )
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    with pytest.raises(Exception) as raised:
        connector_keys.read_private_key(data, None, path=file)
    assert message == getattr(raised.value, "message", None) and words in message


def test_ok_a_der_key_through_base64_and_a_generated_replacement(api: Api) -> None:
    ops = api.token("ops")
    der = (KEYS / "openssl_rsa2048.pkcs8.der").read_bytes()
    made = api(
        "POST", "/key/import", ops, json={"private_key_base64": base64.b64encode(der).decode()}
    )
    assert made.status_code == 201 and made.json()["active"]["key_type"] == "ssh-rsa"
    generated = api("POST", "/key/generate", ops, json={"type": "ed25519"})
    assert generated.status_code == 201
    # No repository to test it on: the new key takes over at once.
    assert generated.json()["active"]["key_type"] == "ssh-ed25519"
    assert generated.json()["pending"] is None
    both = api("POST", "/key/import", ops, json={"private_key": "x", "private_key_base64": "eA=="})
    assert both.status_code == 422


@needs_sshd
def test_ok_scan_pin_list_unpin_a_real_host(api: Api, sshd: GitShellSshd) -> None:
    ops = api.token("ops")
    host = f"127.0.0.1:{sshd.port}"
    scan = api("POST", "/hosts/scan", ops, json={"host": host})
    assert scan.status_code == 200, scan.text
    body = scan.json()
    assert body["status"] == "unknown" and body["pinned"] == []
    assert [k["fingerprint"] for k in body["keys"]] == [sshd.fingerprint()]
    assert body["fix"] == (
        "check that fingerprint with the host's administrator, then run "
        f"`gitward connector host pin {host} --fingerprint {sshd.fingerprint()}`"
    )
    pinned = api("POST", "/hosts/pins", ops, json={"host": host, "fingerprint": sshd.fingerprint()})
    assert pinned.status_code == 201 and pinned.json()[0]["fingerprint"] == sshd.fingerprint()
    assert api("POST", "/hosts/scan", ops, json={"host": host}).json()["status"] == "pinned"
    sshd.rotate_host_key()
    changed = api("POST", "/hosts/scan", ops, json={"host": host}).json()
    assert changed["status"] == "changed" and "has CHANGED" in changed["fix"]
    assert api("DELETE", f"/hosts/{host}", ops).status_code == 204
    gone = api("DELETE", f"/hosts/{host}", ops)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_fail_a_closed_port_is_a_502_saying_why(api: Api) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = api("POST", "/hosts/scan", api.token("ops"), json={"host": f"127.0.0.1:{port}"})
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "host_unreachable"
    assert answer.json()["error"]["message"].startswith(
        f"cannot read the host keys of 127.0.0.1:{port}: "
    )
    assert (
        "502"
        in api.http.get("/api/v1/openapi.json").json()["paths"][f"{API}/hosts/scan"]["post"][
            "responses"
        ]
    )


def test_ok_pins_are_paged_with_link_headers(api: Api) -> None:
    ops = api.token("ops")
    for number in range(3):
        line = export_public_key(generate_key("ed25519")).decode().split()
        made = api(
            "POST",
            "/hosts/pins",
            ops,
            json={"host": f"git{number}.example.com:2222", "key": f"{line[0]} {line[1]}"},
        )
        assert made.status_code == 201, made.text
    first = api("GET", "/hosts", ops, params={"per_page": 2})
    assert len(first.json()) == 2 and first.headers["x-total-count"] == "3"
    assert 'rel="next"' in first.headers["link"] and "page=2" in first.headers["link"]
    second = api("GET", "/hosts", ops, params={"per_page": 2, "page": 2})
    assert len(second.json()) == 1 and 'rel="prev"' in second.headers["link"]
    hosts = {p["host_port"] for p in first.json() + second.json()}
    assert hosts == {f"git{n}.example.com:2222" for n in range(3)}


@needs_sshd
def test_ok_add_test_and_remove_a_repository(api: Api, sshd: GitShellSshd, tmp_path: Path) -> None:
    ops = api.token("ops")
    make_upstream(tmp_path / "app.git", ["PROJ-1 first"])
    url = f"ssh://{USER}@127.0.0.1:{sshd.port}{tmp_path / 'app.git'}"
    status = api("POST", "/key/generate", ops, json={}).json()
    public = status["active"]["public_key"]
    added = api("POST", "/repositories", ops, json={"url": url, "interval": "10m"})
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "app" and added.json()["host_pinned"] is False
    assert len(added.json()["webhook_secret"]) == 64
    taken = api("POST", "/repositories", ops, json={"url": url})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"

    unknown = api("POST", "/repositories/app/test", ops).json()
    assert unknown["ok"] is False and unknown["repositories"][0]["failure"] == "host_key_unknown"
    connector_hosts.pin(api.ctx, f"127.0.0.1:{sshd.port}", key_line=sshd.host_key_line())
    refused = api("POST", "/repositories/app/test", ops).json()["repositories"][0]
    assert refused["failure"] == "auth_refused" and refused["fix"].endswith(public)
    assert refused["line"].startswith("app: auth_refused: ")
    sshd.authorize(public)
    every = api("POST", "/test", ops).json()
    assert every["ok"] is True and every["repositories"][0]["default_branch"] == "main"
    listed = api("GET", "/repositories", ops)  # the tracker's list takes a site admin's token
    assert [r["name"] for r in listed.json()["repositories"]] == ["app"]
    assert listed.headers["x-total-count"] == "1"
    assert api("POST", "/repositories/app/sync", ops).status_code == 202
    assert api("DELETE", "/repositories/app", ops).status_code == 204
    assert api("DELETE", "/repositories/app", ops).status_code == 404
    assert api("POST", "/repositories/app/test", ops).status_code == 404


def test_ok_the_repository_list_is_paged(api: Api) -> None:
    ops = api.token("ops")
    for number in range(3):
        made = api("POST", "/repositories", ops, json={"url": f"git@h.example:r{number}.git"})
        assert made.status_code == 201
    reader = api.token("bob", "connector:read")  # what an issue tracker holds
    page = api("GET", "/repositories", reader, params={"per_page": 2})
    assert len(page.json()["repositories"]) == 2 and 'rel="last"' in page.headers["link"]
    assert (
        api("GET", "/repositories", reader, params={"per_page": 2, "page": 2}).json()[
            "repositories"
        ][0]["name"]
        == "r2"
    )


ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/key", None),
    ("POST", "/key/generate", {}),
    ("POST", "/key/import", {"private_key": _ppk(), "passphrase": PASSPHRASE}),
    ("GET", "/hosts", None),
    ("POST", "/hosts/scan", {"host": "127.0.0.1:1"}),
    ("POST", "/hosts/pins", {"host": "h:22", "key": "ssh-ed25519 AAAA"}),
    ("DELETE", "/hosts/h:22", None),
    ("POST", "/repositories", {"url": "git@h.example:x.git"}),
    ("DELETE", "/repositories/x", None),
    ("POST", "/repositories/x/test", None),
    ("POST", "/test", None),
]


def test_fail_only_site_admins_with_the_site_admin_scope(api: Api) -> None:
    bob = api.token("bob", *sorted(tokens.SCOPES))  # every scope, not a site admin
    ops_reader = api.token("ops", "connector:read", "connector:sync")
    for method, path, body in ADMIN_CALLS:
        assert api(method, path, {}, json=body).status_code == 401, path
        refused = api(method, path, bob, json=body)
        assert refused.status_code == 404, (path, refused.text)
        assert refused.json()["error"]["code"] == "not_found"
        lacking = api(method, path, ops_reader, json=body)
        assert lacking.status_code == 403, path
        assert lacking.json()["error"] == {
            "code": "insufficient_scope",
            "message": "the access token lacks the site_admin scope",
        }
    assert connector_keys.status(api.ctx).active is None
    # A site_admin scope on a token of someone who is not one opens nothing either.
    bob_admin_scope = api.token("bob", "site_admin")
    assert api("GET", "/repositories", bob_admin_scope).status_code == 403
    assert api("GET", "/issues/PROJ-1", bob_admin_scope).status_code == 403


def test_ok_in_the_openapi_schema(api: Api) -> None:
    schema = api.http.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path, method in (
        ("/key", "get"),
        ("/key/generate", "post"),
        ("/key/import", "post"),
        ("/hosts", "get"),
        ("/hosts/scan", "post"),
        ("/hosts/pins", "post"),
        ("/hosts/{host}", "delete"),
        ("/repositories", "post"),
        ("/repositories", "get"),
        ("/repositories/{name}", "delete"),
        ("/repositories/{name}/test", "post"),
        ("/repositories/{name}/sync", "post"),
        ("/test", "post"),
    ):
        assert method in paths[f"{API}{path}"], (path, method)
    assert "404" in paths[f"{API}/key"]["get"]["responses"]
    assert "private" not in str(schema["components"]["schemas"]["ConnectorKeyOut"]).lower()
