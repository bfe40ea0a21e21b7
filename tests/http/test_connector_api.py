"""/api/v1/connector over real HTTP (uvicorn on 127.0.0.1): scopes, the issue lookup (the
same data as `connector search --json`), statuses, the sync trigger by token and by a
GitHub-style signed webhook, errors in the API's JSON shape, the OpenAPI schema."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gitward.git import mirror
from gitward.services import accounts, connector_repos
from gitward.services.connector_index import index_mirror, search
from gitward.services.context import Context
from gitward.services.tokens import create_token
from gitward.store.db import transaction
from gitward.store.queries import connector as q
from tests.e2e.connector_helpers import git, make_upstream
from tests.http.live import live_server
from tests.services.issuing_world import with_secret

API = "/api/v1/connector"


@pytest.fixture
def world(ctx: Context, tmp_path: Path) -> tuple[Context, dict[str, str], str]:
    ctx = with_secret(ctx)
    upstream = tmp_path / "app.git"
    make_upstream(upstream, ["PROJ-1 first", "PROJ-1 PROJ-2 second"])
    added = connector_repos.add(ctx, "git@git.example.com:acme/app.git")
    path = connector_repos.mirror_path(ctx.settings, "app")
    mirror.ensure_mirror(path, str(upstream))
    git("fetch", "-q", "origin", cwd=path)
    with transaction(ctx.engine) as session:
        repo = q.repository_by_name(session, "app")
        assert repo is not None
        repo_id = repo.id
    index_mirror(ctx, repo_id, path)
    accounts.create_user(ctx, "tracker")
    tokens = {
        scope: create_token(ctx, "tracker", scopes=(scope,)).token
        for scope in ("connector:read", "connector:sync", "cert:issue")
    }
    return ctx, tokens, added.webhook_secret


@pytest.fixture
def http(world: tuple[Context, dict[str, str], str]) -> Iterator[httpx.Client]:
    with live_server(world[0]) as base, httpx.Client(base_url=base) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_ok_issue_lookup_is_the_search_data(
    http: httpx.Client, world: tuple[Context, dict[str, str], str]
) -> None:
    ctx, tokens, _ = world
    answer = http.get(f"{API}/issues/proj-1", headers=_auth(tokens["connector:read"]))
    assert answer.status_code == 200
    assert answer.json() == json.loads(json.dumps(search(ctx, "PROJ-1").to_json()))
    assert [c["subject"] for c in answer.json()["commits"]] == [
        "PROJ-1 PROJ-2 second",
        "PROJ-1 first",
    ]
    assert (
        http.get(f"{API}/issues/PROJ-1?limit=1", headers=_auth(tokens["connector:read"])).json()[
            "truncated"
        ]
        is True
    )


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (None, 401, "unauthenticated"),
        ("cert:issue", 403, "insufficient_scope"),
        ("gwp_bogus", 401, "unauthenticated"),
    ],
    ids=["fail/no-token", "fail/wrong-scope", "fail/bad-token"],
)
def test_fail_reading_needs_connector_read(
    http: httpx.Client,
    world: tuple[Context, dict[str, str], str],
    token: str | None,
    status: int,
    code: str,
) -> None:
    headers = _auth(world[1].get(token, token)) if token else {}
    for path in ("/issues/PROJ-1", "/repositories"):
        answer = http.get(API + path, headers=headers)
        assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_fail_not_an_issue_key(
    http: httpx.Client, world: tuple[Context, dict[str, str], str]
) -> None:
    answer = http.get(f"{API}/issues/nonsense", headers=_auth(world[1]["connector:read"]))
    assert answer.status_code == 422 and "not an issue key" in answer.json()["error"]["message"]


def test_ok_repositories_with_status(
    http: httpx.Client, world: tuple[Context, dict[str, str], str]
) -> None:
    repos = http.get(f"{API}/repositories", headers=_auth(world[1]["connector:read"])).json()
    (app,) = repos["repositories"]
    assert app["name"] == "app" and app["branches"] == 1 and app["last_outcome"] is None
    assert app["consecutive_failures"] == 0 and app["syncing"] is False


def test_trigger_by_token_and_by_signed_webhook(
    http: httpx.Client, world: tuple[Context, dict[str, str], str]
) -> None:
    _, tokens, secret = world
    url = f"{API}/repositories/app/sync"
    assert http.post(url, headers=_auth(tokens["connector:sync"])).status_code == 202
    wrong = http.post(url, headers=_auth(tokens["connector:read"]))
    assert wrong.status_code == 403
    missing = http.post(f"{API}/repositories/nope/sync", headers=_auth(tokens["connector:sync"]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    body = b'{"zen": "Keep it logically awesome."}'
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    signed = http.post(url, content=body, headers={"X-Hub-Signature-256": signature})
    assert signed.status_code == 202 and signed.json()["queued"] is True
    tampered = http.post(url, content=body + b" ", headers={"X-Hub-Signature-256": signature})
    assert tampered.status_code == 401
    assert http.post(url).status_code == 401


def test_ok_in_the_openapi_schema(http: httpx.Client) -> None:
    paths = http.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/issues/{key}", "/repositories", "/repositories/{name}/sync"):
        assert f"{API}{path}" in paths
