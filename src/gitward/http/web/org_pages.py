"""Organizations (members, repositories) and the SSH certificate authority settings of
organizations and enterprises, with "Require SSH certificates" and its preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from gitward.errors import GitwardError, InvalidInput
from gitward.http.web.pages import (
    CurrentActor,
    ctx_of,
    echo_key,
    failed,
    form_time,
    redirect,
    render,
)
from gitward.services import my_account, org_settings
from gitward.services.actor import Actor
from gitward.services.org_settings import OwnerKind

router = APIRouter()

Text = Annotated[str, Form()]
OptionalText = Annotated[str, Form()]


@router.get("/orgs/{org}")
def org_page(request: Request, actor: CurrentActor, org: str) -> Response:
    page = org_settings.org_page(ctx_of(request), actor, org)
    return render(request, "org/org.html", page=page, username="", repo_name="")


def _org_failed(
    request: Request, actor: Actor, org: str, exc: GitwardError, **data: object
) -> Response:
    page = org_settings.org_page(ctx_of(request), actor, org)
    return failed(
        request, "org/org.html", exc, page=page, **{"username": "", "repo_name": "", **data}
    )


@router.post("/orgs/{org}/members")
def set_member(
    request: Request, actor: CurrentActor, org: str, username: Text, role: Text = "member"
) -> Response:
    try:
        org_settings.set_member(ctx_of(request), actor, org, username.strip(), role)
    except GitwardError as exc:
        return _org_failed(request, actor, org, exc, username=username)
    return redirect(f"/orgs/{org}", "member-saved")


@router.post("/orgs/{org}/members/{username}/remove")
def remove_member(request: Request, actor: CurrentActor, org: str, username: str) -> Response:
    try:
        org_settings.remove_member(ctx_of(request), actor, org, username)
    except GitwardError as exc:
        return _org_failed(request, actor, org, exc)
    return redirect(f"/orgs/{org}", "member-removed")


@router.get("/new")
def new_repo_form(request: Request, actor: CurrentActor, owner: str = "") -> Response:
    owners = _owners(request, actor)
    return render(request, "repo/new.html", owners=owners, owner=owner or owners[0], name="")


def _owners(request: Request, actor: Actor) -> list[str]:
    owned = [
        m.organization.name
        for m in my_account.my_organizations(ctx_of(request), actor)
        if m.role == "owner"
    ]
    return [actor.username, *owned]


@router.post("/new")
def create_repo(request: Request, actor: CurrentActor, owner: Text, name: Text) -> Response:
    try:
        repo = org_settings.create_repository(ctx_of(request), actor, owner.strip(), name.strip())
    except GitwardError as exc:
        owners = _owners(request, actor)
        return failed(request, "repo/new.html", exc, owners=owners, owner=owner, name=name)
    return redirect(f"/repos/{repo.full_name}", "repo-created")


# --- certificate authorities (organizations and enterprises alike) ------------------------


def _ca_path(kind: OwnerKind, name: str) -> str:
    base = "orgs" if kind == "organization" else "enterprises"
    return f"/{base}/{name}/settings/certificate-authorities"


def _ca_render(
    request: Request,
    actor: Actor,
    kind: OwnerKind,
    name: str,
    *,
    exc: GitwardError | None = None,
    **data: object,
) -> Response:
    settings = org_settings.ca_settings(ctx_of(request), actor, kind, name)
    values: dict[str, Any] = {
        "settings": settings,
        "base": _ca_path(kind, name),
        "public_key": "",
        "title": "",
        "preview": None,
        **data,
    }
    if exc is not None:
        return failed(request, "org/certificate_authorities.html", exc, **values)
    return render(request, "org/certificate_authorities.html", **values)


def _ca_routes(kind: OwnerKind, prefix: str) -> None:
    base = f"/{prefix}/{{name}}/settings/certificate-authorities"

    @router.get(base, name=f"{kind}_cas")
    def show(request: Request, actor: CurrentActor, name: str) -> Response:
        return _ca_render(request, actor, kind, name)

    @router.post(base, name=f"{kind}_add_ca")
    def add(
        request: Request, actor: CurrentActor, name: str, public_key: Text, title: OptionalText = ""
    ) -> Response:
        try:
            org_settings.add_ca(
                ctx_of(request), actor, kind, name, public_key.encode("utf-8"), title=title.strip()
            )
        except GitwardError as exc:
            return _ca_render(
                request, actor, kind, name, exc=exc, public_key=echo_key(public_key), title=title
            )
        return redirect(_ca_path(kind, name), "ca-added")

    @router.post(base + "/create", name=f"{kind}_create_ca")
    def create(
        request: Request,
        actor: CurrentActor,
        name: str,
        key_type: Text = "ed25519",
        title: OptionalText = "",
    ) -> Response:
        try:
            org_settings.create_ca(
                ctx_of(request), actor, kind, name, key_type=key_type, title=title
            )
        except GitwardError as exc:
            return _ca_render(request, actor, kind, name, exc=exc)
        return redirect(_ca_path(kind, name), "ca-created")

    @router.post(base + "/retire", name=f"{kind}_retire_ca")
    def retire(
        request: Request, actor: CurrentActor, name: str, fingerprint: Text, at: Text
    ) -> Response:
        try:
            when = form_time(at, zone_for_times=True)
            if when is None:
                raise InvalidInput("give the date from which the CA is retired")
            org_settings.retire_ca(ctx_of(request), actor, kind, name, fingerprint, when)
        except GitwardError as exc:
            return _ca_render(request, actor, kind, name, exc=exc)
        return redirect(_ca_path(kind, name), "ca-retired")

    @router.post(base + "/remove", name=f"{kind}_remove_ca")
    def remove(
        request: Request,
        actor: CurrentActor,
        name: str,
        fingerprint: Text,
        confirm: OptionalText = "",
    ) -> Response:
        try:
            org_settings.remove_ca(ctx_of(request), actor, kind, name, fingerprint, confirm=confirm)
        except GitwardError as exc:
            return _ca_render(request, actor, kind, name, exc=exc)
        return redirect(_ca_path(kind, name), "ca-removed")


_ca_routes("organization", "orgs")
_ca_routes("enterprise", "enterprises")


@router.post("/orgs/{name}/settings/certificate-authorities/require")
def require_certificates(
    request: Request, actor: CurrentActor, name: str, required: Text, confirm: OptionalText = ""
) -> Response:
    """Turning the requirement on shows the preview first; only the confirmed form saves."""
    ctx = ctx_of(request)
    on = required == "on"
    try:
        if on and confirm != "yes":
            preview = org_settings.require_preview(ctx, actor, name)
            return _ca_render(request, actor, "organization", name, preview=preview)
        org_settings.set_require_certificates(ctx, actor, name, on)
    except GitwardError as exc:
        return _ca_render(request, actor, "organization", name, exc=exc)
    return redirect(_ca_path("organization", name), "required-on" if on else "required-off")
