"""Repositories: ``/repos/{owner}/{repo}`` with ``ssh_url`` and ``ssh_certificate_url``,
its deploy keys (``/keys``) and collaborators, and creating them (``/user/repos``,
``/orgs/{org}/repos``), as on GitHub."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gitward.http.api.deps import (
    STANDARD,
    ApiActor,
    Paging,
    RowId,
    ctx_of,
    errors,
    link_header,
    paged,
)
from gitward.http.api.keys import KeyOut, key_out
from gitward.services import my_account, org_settings, repo_pages
from gitward.services.views import RepoView

router = APIRouter(tags=["Repositories"])


class OwnerOut(BaseModel):
    login: str
    type: Literal["User", "Organization"]


class RepoOut(BaseModel):
    id: int
    name: str
    full_name: str
    owner: OwnerOut
    fork: bool
    created_at: dt.datetime
    ssh_url: str = Field(description="The git@ URL (ssh:// with the port when it is not 22)")
    ssh_certificate_url: str | None = Field(
        description="For organization repositories: the org-ID@ URL, which accepts only the "
        "organization's certificates"
    )
    requires_ssh_certificates: bool
    permission: str | None = Field(description="Yours: read, write or admin")


def repo_out(request: Request, actor: ApiActor, view: RepoView) -> dict[str, Any]:
    page = repo_pages.repo_page(ctx_of(request), actor, view.full_name)
    return _page_out(page)


def _page_out(page: repo_pages.RepoPage) -> dict[str, Any]:
    view = page.repository
    return {
        "id": view.id,
        "name": page.name,
        "full_name": view.full_name,
        "owner": {
            "login": page.owner,
            "type": "User" if view.owner_kind == "user" else "Organization",
        },
        "fork": view.fork_of is not None,
        "created_at": view.created_at,
        "ssh_url": page.ssh_url,
        "ssh_certificate_url": page.ssh_certificate_url,
        "requires_ssh_certificates": page.requires_certificates,
        "permission": page.permission,
    }


class NewRepo(BaseModel):
    name: str = Field(max_length=100)


@router.get("/repos/{owner}/{repo}", response_model=RepoOut, responses=STANDARD)
def get_repo(request: Request, actor: ApiActor, owner: str, repo: str) -> dict[str, Any]:
    """A repository you can read (scope repo)."""
    return _page_out(repo_pages.repo_page(ctx_of(request), actor, f"{owner}/{repo}"))


@router.get("/user/repos", response_model=list[RepoOut], responses=STANDARD)
def my_repos(
    request: Request, response: Response, actor: ApiActor, page: Paging
) -> list[dict[str, Any]]:
    """The repositories you can read."""
    actor.require_scope("repo")
    found = paged(my_account.my_repositories(ctx_of(request), actor), page)
    link_header(request, response, found)
    return [repo_out(request, actor, r) for r in found.items]


@router.post(
    "/user/repos", status_code=201, response_model=RepoOut, responses={**STANDARD, **errors(409)}
)
def create_my_repo(request: Request, actor: ApiActor, body: NewRepo) -> dict[str, Any]:
    view = org_settings.create_repository(ctx_of(request), actor, actor.username, body.name)
    return repo_out(request, actor, view)


@router.get("/orgs/{org}/repos", response_model=list[RepoOut], responses=STANDARD)
def org_repos(
    request: Request, response: Response, actor: ApiActor, org: str, page: Paging
) -> list[dict[str, Any]]:
    actor.require_scope("repo")
    found = paged(org_settings.org_page(ctx_of(request), actor, org).repositories, page)
    link_header(request, response, found)
    return [repo_out(request, actor, r) for r in found.items]


@router.post(
    "/orgs/{org}/repos",
    status_code=201,
    response_model=RepoOut,
    responses={**STANDARD, **errors(409)},
)
def create_org_repo(request: Request, actor: ApiActor, org: str, body: NewRepo) -> dict[str, Any]:
    """Create a repository in an organization you own."""
    view = org_settings.create_repository(ctx_of(request), actor, org, body.name)
    return repo_out(request, actor, view)


# --- deploy keys -----------------------------------------------------------------------------


class NewDeployKey(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    key: str = Field(max_length=65536)
    read_only: bool = Field(default=True, description="False lets the key push")


@router.get("/repos/{owner}/{repo}/keys", response_model=list[KeyOut], responses=STANDARD)
def list_deploy_keys(
    request: Request, response: Response, actor: ApiActor, owner: str, repo: str, page: Paging
) -> list[dict[str, Any]]:
    """Deploy keys (repository admins)."""
    found = paged(repo_pages.list_deploy_keys(ctx_of(request), actor, f"{owner}/{repo}"), page)
    link_header(request, response, found)
    return [key_out(k) for k in found.items]


@router.post(
    "/repos/{owner}/{repo}/keys",
    status_code=201,
    response_model=KeyOut,
    responses={**STANDARD, **errors(409)},
)
def add_deploy_key(
    request: Request, actor: ApiActor, owner: str, repo: str, body: NewDeployKey
) -> dict[str, Any]:
    view = repo_pages.add_deploy_key(
        ctx_of(request),
        actor,
        f"{owner}/{repo}",
        body.key.encode("utf-8"),
        write=not body.read_only,
        title=body.title,
    )
    return key_out(view)


@router.get("/repos/{owner}/{repo}/keys/{key_id}", response_model=KeyOut, responses=STANDARD)
def get_deploy_key(
    request: Request, actor: ApiActor, owner: str, repo: str, key_id: RowId
) -> dict[str, Any]:
    return key_out(repo_pages.deploy_key(ctx_of(request), actor, f"{owner}/{repo}", key_id))


@router.delete("/repos/{owner}/{repo}/keys/{key_id}", status_code=204, responses=STANDARD)
def delete_deploy_key(
    request: Request, actor: ApiActor, owner: str, repo: str, key_id: RowId
) -> Response:
    repo_pages.remove_deploy_key(ctx_of(request), actor, f"{owner}/{repo}", key_id)
    return Response(status_code=204)


# --- collaborators ------------------------------------------------------------------------------

# GitHub's permission names, and ours.
_PERMISSIONS = {"pull": "read", "push": "write", "admin": "admin", "read": "read", "write": "write"}


class CollaboratorOut(BaseModel):
    login: str
    permission: str = Field(description="read, write or admin")
    permissions: dict[str, bool] = Field(description="GitHub's form: pull, push, admin")


class CollaboratorIn(BaseModel):
    permission: str = Field(default="push", description="pull, push or admin (or read, write)")


def _collaborator(login: str, permission: str) -> dict[str, Any]:
    return {
        "login": login,
        "permission": permission,
        "permissions": {
            "pull": True,
            "push": permission in ("write", "admin"),
            "admin": permission == "admin",
        },
    }


@router.get(
    "/repos/{owner}/{repo}/collaborators", response_model=list[CollaboratorOut], responses=STANDARD
)
def collaborators(
    request: Request, response: Response, actor: ApiActor, owner: str, repo: str, page: Paging
) -> list[dict[str, Any]]:
    found_page = repo_pages.repo_page(ctx_of(request), actor, f"{owner}/{repo}")
    if found_page.collaborators is None:
        from gitward.errors import NotFound

        raise NotFound(f"no repository {owner}/{repo}")
    found = paged(found_page.collaborators, page)
    link_header(request, response, found)
    return [_collaborator(c.username, c.permission) for c in found.items]


@router.put(
    "/repos/{owner}/{repo}/collaborators/{username}",
    response_model=CollaboratorOut,
    responses=STANDARD,
)
def set_collaborator(
    request: Request, actor: ApiActor, owner: str, repo: str, username: str, body: CollaboratorIn
) -> dict[str, Any]:
    from gitward.errors import InvalidInput

    permission = _PERMISSIONS.get(body.permission)
    if permission is None:
        raise InvalidInput("permission must be pull, push or admin")
    done = repo_pages.set_collaborator(
        ctx_of(request), actor, f"{owner}/{repo}", username, permission
    )
    return _collaborator(done["user"], done["permission"])


@router.delete(
    "/repos/{owner}/{repo}/collaborators/{username}", status_code=204, responses=STANDARD
)
def remove_collaborator(
    request: Request, actor: ApiActor, owner: str, repo: str, username: str
) -> Response:
    repo_pages.remove_collaborator(ctx_of(request), actor, f"{owner}/{repo}", username)
    return Response(status_code=204)
