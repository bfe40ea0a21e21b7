"""Hostile input through the HTTP API: a 4xx with the JSON error shape, never a 500 nor a
traceback (issue 12)."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import httpx
import pytest
from structlog.testing import capture_logs

from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
from gitward.services import accounts, tokens
from gitward.services.issuing import Issuer
from tests.conftest import VECTORS
from tests.services.issuing_world import World, public_line
from tests.web.asgi import app_client

COMPRESSED = (VECTORS / "hostile" / "ecdsa256_compressed.pub").read_text().strip()
URL = "/api/v1/ssh/certificates"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_fail_issuing_a_compressed_point_key_is_422(client: httpx.Client, world: World) -> None:
    response = client.post(
        URL,
        json={"public_key": COMPRESSED, "organization": "acme"},
        headers=bearer(world.alice_token),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {"code": "invalid_key", "message": COMPRESSED_POINT_REFUSED}


def test_fail_uploading_a_compressed_point_key_is_422(client: httpx.Client, world: World) -> None:
    token = tokens.create_token(world.ctx, "alice", scopes=("write:public_key",)).token
    response = client.post("/api/v1/user/keys", json={"key": COMPRESSED}, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == COMPRESSED_POINT_REFUSED


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom: secret-looking detail gwp_XXXX")


def test_fail_our_own_fault_is_a_500_with_the_json_shape_and_a_logged_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Issuer, "issue", _boom)
    with app_client(world.ctx) as http, capture_logs() as logs:
        response = http.post(
            URL, json={"public_key": public_line()}, headers=bearer(world.alice_token)
        )
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal server error (the server's log has the cause)",
        }
    }
    assert "boom" not in response.text and "Traceback" not in response.text
    [crash] = [e for e in logs if e["event"] == "request_crashed"]
    assert crash["path"] == URL and isinstance(crash["exc_info"], RuntimeError)


def test_fail_our_own_fault_on_a_page_is_a_plain_error_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitward.http.web import auth_pages

    monkeypatch.setattr(auth_pages, "render", _boom)
    with app_client(world.ctx) as http, capture_logs() as logs:
        response = http.get("/login")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side" in response.text and "boom" not in response.text
    assert [e["path"] for e in logs if e["event"] == "request_crashed"] == ["/login"]


POISON_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"1e999999",
    b'{"a":' * 200 + b"1" + b"}" * 200,
    b"\xff\xfe\x00",
    b'{"public_key": 5, "key": [], "title": {}, "name": null, "options": "x"}',
    b'{"public_key": "\\u0000", "key": "\\ud800", "validity": "\\ud800", "options": ["\\u0000"]}',
    bytes(range(256)),
]
POISON_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]


def test_fail_poison_bodies_on_every_api_route_are_4xx(world: World) -> None:
    """Every route of the API (from its OpenAPI schema), every method, with and without a
    valid token: what the client sends is answered 4xx, never 5xx."""
    accounts.create_user(world.ctx, "ops", site_admin=True)
    admin = tokens.create_token(world.ctx, "ops", scopes=tuple(sorted(tokens.SCOPES))).token
    statuses: Counter[int] = Counter()
    with app_client(world.ctx) as http:
        schema = http.get("/api/v1/openapi.json").json()
        for template, operations in schema["paths"].items():
            path = re.sub(r"\{[^}]+\}", lambda m: "1" if "id" in m.group(0) else "acme", template)
            for method in operations:
                kinds = itertools.cycle(POISON_TYPES)
                for body, who in itertools.product(POISON_BODIES, ({}, bearer(admin))):
                    kind = next(kinds)
                    response = http.request(
                        method, path, content=body, headers={"content-type": kind, **who}
                    )
                    statuses[response.status_code] += 1
                    assert response.status_code < 500, (method, path, body[:40], response.text)
                    if response.status_code >= 400:
                        assert response.headers["content-type"] == "application/json"
    assert sum(statuses.values()) > 500 and statuses[422] and statuses[401]


def test_fail_ids_and_numbers_out_of_range_are_4xx(world: World) -> None:
    """Every route with an id in its path, and every query number, at values the database
    cannot hold: found by this test, /user/keys/9223372036854775808 and a revocation of
    serial 2**64 raised OverflowError in the driver (500)."""
    accounts.create_user(world.ctx, "ops", site_admin=True)
    admin = bearer(tokens.create_token(world.ctx, "ops", scopes=tuple(sorted(tokens.SCOPES))).token)
    numbers = ("9223372036854775808", "99999999999999999999999", "-1", "0")
    query = "&".join(f"{k}={{n}}" for k in ("page", "per_page", "serial", "since", "before"))
    with app_client(world.ctx) as http:
        schema = http.get("/api/v1/openapi.json").json()
        for template, operations in schema["paths"].items():
            for n in numbers:
                path = re.sub(
                    r"\{[^}]+\}", lambda m, n=n: n if "id" in m.group(0) else "acme", template
                )
                for method in operations:
                    for url in (path, f"{path}?{query.format(n=n)}"):
                        response = http.request(method, url, json={}, headers=admin)
                        assert response.status_code < 500, (method, url, response.text)
        for serial in (2**64, 2**63 + 5, -1):
            response = http.post(
                "/api/v1/admin/ssh-certificates/revocations", json={"serial": serial}, headers=admin
            )
            assert response.status_code in (404, 422), (serial, response.text)


def test_fail_admin_uploads_of_a_compressed_point_key_are_422(world: World) -> None:
    accounts.create_user(world.ctx, "ops", site_admin=True)
    admin = bearer(tokens.create_token(world.ctx, "ops", scopes=tuple(sorted(tokens.SCOPES))).token)
    with app_client(world.ctx) as http:
        for path, body in (
            ("/api/v1/admin/users/alice/keys", {"key": COMPRESSED}),
            ("/api/v1/orgs/acme/ssh-certificate-authorities", {"key": COMPRESSED}),
        ):
            response = http.post(path, json=body, headers=admin)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"]["message"] == COMPRESSED_POINT_REFUSED
