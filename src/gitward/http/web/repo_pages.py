"""A repository's page: the "Code" box, deploy keys, collaborators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from gitward.errors import GitwardError
from gitward.http.api.deps import RowId
from gitward.http.web.pages import CurrentActor, ctx_of, echo_key, failed, redirect, render
from gitward.services import repo_pages
from gitward.services.actor import Actor

router = APIRouter()

Text = Annotated[str, Form()]
OptionalText = Annotated[str, Form()]


def _render(
    request: Request, actor: Actor, full_name: str, exc: GitwardError | None = None, **data: object
) -> Response:
    page = repo_pages.repo_page(ctx_of(request), actor, full_name)
    values: dict[str, Any] = {"page": page, "key": "", "title": "", "username": "", **data}
    if exc is not None:
        return failed(request, "repo/repo.html", exc, **values)
    return render(request, "repo/repo.html", **values)


@router.get("/repos/{owner}/{name}")
def repo(request: Request, actor: CurrentActor, owner: str, name: str) -> Response:
    return _render(request, actor, f"{owner}/{name}")


@router.post("/repos/{owner}/{name}/keys")
def add_deploy_key(
    request: Request,
    actor: CurrentActor,
    owner: str,
    name: str,
    key: Text,
    title: OptionalText = "",
    write: OptionalText = "",
) -> Response:
    full = f"{owner}/{name}"
    try:
        repo_pages.add_deploy_key(
            ctx_of(request), actor, full, key.encode("utf-8"), write=write == "on", title=title
        )
    except GitwardError as exc:
        return _render(request, actor, full, exc, key=echo_key(key), title=title)
    return redirect(f"/repos/{full}", "deploy-key-added")


@router.post("/repos/{owner}/{name}/keys/{key_id}/delete")
def remove_deploy_key(
    request: Request, actor: CurrentActor, owner: str, name: str, key_id: RowId
) -> Response:
    repo_pages.remove_deploy_key(ctx_of(request), actor, f"{owner}/{name}", key_id)
    return redirect(f"/repos/{owner}/{name}", "deploy-key-removed")


@router.post("/repos/{owner}/{name}/collaborators")
def set_collaborator(
    request: Request,
    actor: CurrentActor,
    owner: str,
    name: str,
    username: Text,
    permission: Text = "read",
) -> Response:
    full = f"{owner}/{name}"
    try:
        repo_pages.set_collaborator(ctx_of(request), actor, full, username.strip(), permission)
    except GitwardError as exc:
        return _render(request, actor, full, exc, username=username)
    return redirect(f"/repos/{full}", "collaborator-saved")


@router.post("/repos/{owner}/{name}/collaborators/{username}/remove")
def remove_collaborator(
    request: Request, actor: CurrentActor, owner: str, name: str, username: str
) -> Response:
    full = f"{owner}/{name}"
    try:
        repo_pages.remove_collaborator(ctx_of(request), actor, full, username)
    except GitwardError as exc:
        return _render(request, actor, full, exc)
    return redirect(f"/repos/{full}", "collaborator-removed")
