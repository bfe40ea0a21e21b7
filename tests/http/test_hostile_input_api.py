"""Hostile input through the HTTP API: a 4xx with the JSON error shape, never a 500 nor a
traceback (issue 12)."""

from __future__ import annotations

import httpx

from gitward.keys.algorithms import COMPRESSED_POINT_REFUSED
from gitward.services import tokens
from tests.conftest import VECTORS
from tests.services.issuing_world import World

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
