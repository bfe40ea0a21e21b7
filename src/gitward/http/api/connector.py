"""``/api/v1/connector``: what an issue tracker calls.

* ``GET /connector/issues/{key}``: commits and branches mentioning the key (the same data
  as ``gitward connector search --json``); token scope ``connector:read``.
* ``GET /connector/repositories``: every connected repository with its sync status;
  ``connector:read`` (paged, with a ``Link`` header).
* ``POST /connector/repositories/{name}/sync``: make it due now (202); a token with
  ``connector:sync``, or a GitHub-style webhook: ``X-Hub-Signature-256: sha256=HEX``, the
  HMAC-SHA256 of the raw body under the repository's webhook secret.

Each also takes a site admin's token with the ``site_admin`` scope (what the connector's
administration, http/api/connector_admin.py, uses). Authorization is decided in the
services (connector_admin.authorize_token, verify_webhook); these handlers parse, call,
render.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gitward.connector.issue_keys import normalise_search_key
from gitward.errors import InvalidInput
from gitward.http.api.certificates import ErrorBody
from gitward.http.api.deps import Paging, link_header, paged
from gitward.services import connector_admin, connector_repos, tokens
from gitward.services.connector_index import DEFAULT_SEARCH_LIMIT, search
from gitward.services.context import Context

# Times as the CLI prints them (datetime.isoformat, "+00:00"), so that an issue's JSON here
# is byte for byte what `gitward connector search --json` prints.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# GitHub's largest webhook payload; anything bigger is not a push notification.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024

router = APIRouter(prefix="/connector", tags=["Repository connector"])
bearer = HTTPBearer(auto_error=False, description="A personal access token (gwp_...)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class CommitOut(BaseModel):
    repository: str
    sha: str
    author_name: str
    author_email: str
    authored_at: Timestamp
    subject: str
    files_changed: int
    branches: list[str] = Field(description="Branches containing the commit now.")
    reachable: bool = Field(description="False once no branch contains it (a force-push).")


class BranchOut(BaseModel):
    repository: str
    name: str
    sha: str


class IssueOut(BaseModel):
    issue_key: str
    commits: list[CommitOut]
    branches: list[BranchOut] = Field(description="Branches whose names mention the key.")
    truncated: bool


class RepositoryOut(BaseModel):
    name: str
    url: str
    host_port: str
    interval_seconds: int
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    last_success_at: Timestamp | None
    last_outcome: str | None = Field(description="ok or failed")
    last_error_kind: str | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: Timestamp | None
    ref_count: int | None
    default_branch: str | None
    branches: int
    syncing: bool
    new_key_accepted: bool | None


class RepositoryList(BaseModel):
    repositories: list[RepositoryOut]


class SyncQueued(BaseModel):
    repository: str
    queued: bool
    next_attempt_at: Timestamp | None


_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "No token or signature, or an unknown, revoked or expired one"),
        (403, "The token lacks the scope"),
        (404, "No such connected repository"),
        (422, "Not an issue key"),
    )
}


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def _authorize(ctx: Context, token: str | None, scope: str) -> None:
    # The scope, or a site admin's site_admin token (connector_admin.authorize_token).
    connector_admin.authorize_token(ctx, token, scope)


@router.get(
    "/issues/{key}",
    response_model=IssueOut,
    responses=_ERRORS,
    summary="Commits and branches that mention an issue key",
)
async def issue(
    request: Request,
    credentials: Credentials,
    key: Annotated[str, Path(max_length=64, examples=["PROJ-123"])],
    limit: Annotated[int, Query(ge=1, le=10000)] = DEFAULT_SEARCH_LIMIT,
) -> dict[str, object]:
    ctx = _ctx(request)

    def run() -> dict[str, object]:
        _authorize(ctx, _token(credentials), tokens.SCOPE_CONNECTOR_READ)
        return search(ctx, normalise_search_key(key), limit=limit).to_json()

    return await run_in_threadpool(run)


@router.get(
    "/repositories",
    response_model=RepositoryList,
    responses=_ERRORS,
    summary="Connected repositories and their sync status",
)
async def repositories(
    request: Request, response: Response, credentials: Credentials, page: Paging
) -> dict[str, object]:
    """Paged as the other listings are (``page``, ``per_page``, a ``Link`` header and
    ``X-Total-Count``)."""
    ctx = _ctx(request)

    def run() -> dict[str, object]:
        _authorize(ctx, _token(credentials), tokens.SCOPE_CONNECTOR_READ)
        found = paged(connector_repos.list_repositories(ctx), page)
        link_header(request, response, found)
        return {"repositories": [r.to_json() for r in found.items]}

    return await run_in_threadpool(run)


@router.post(
    "/repositories/{name}/sync",
    status_code=202,
    response_model=SyncQueued,
    responses=_ERRORS,
    summary="Sync a repository now (a token, or a webhook signed with X-Hub-Signature-256)",
)
async def trigger(
    request: Request,
    credentials: Credentials,
    name: Annotated[str, Path(max_length=100)],
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> dict[str, object]:
    ctx = _ctx(request)
    body = bytearray()
    async for chunk in request.stream():  # read with a cap, chunked or not
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise InvalidInput(f"the request body must be at most {MAX_WEBHOOK_BYTES} bytes")

    def run() -> dict[str, object]:
        if credentials is None and signature is not None:
            connector_repos.verify_webhook(ctx, name, bytes(body), signature)
        else:
            _authorize(ctx, _token(credentials), tokens.SCOPE_CONNECTOR_SYNC)
        view = connector_repos.request_sync(ctx, name)
        due = view.to_json()["next_attempt_at"]
        return {"repository": view.name, "queued": True, "next_attempt_at": due}

    return await run_in_threadpool(run)
