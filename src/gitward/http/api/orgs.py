"""Organizations and enterprises: members, SSH certificate authorities, and the
"require SSH certificates" setting with its preview."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from gitward.errors import InvalidInput, NotFound
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
from gitward.services import org_settings
from gitward.services.org_settings import OwnerKind
from gitward.services.views import CAView

router = APIRouter(tags=["Organizations and certificate authorities"])


class OrgOut(BaseModel):
    id: int
    login: str
    enterprise: str | None
    require_ssh_certificates: bool
    created_at: dt.datetime
    ssh_certificate_user: str = Field(description="org-ID, the SSH user of certificate URLs")


def org_out(view: Any) -> dict[str, Any]:
    return {
        "id": view.id,
        "login": view.name,
        "enterprise": view.enterprise,
        "require_ssh_certificates": view.require_ssh_certificates,
        "created_at": view.created_at,
        "ssh_certificate_user": f"org-{view.id}",
    }


class OrgPatch(BaseModel):
    require_ssh_certificates: bool | None = None


class MemberOut(BaseModel):
    login: str
    role: str = Field(description="owner or member")
    suspended: bool


class MembershipIn(BaseModel):
    role: str = Field(default="member", description="member, or owner (GitHub's admin)")


class NewOrg(BaseModel):
    login: str = Field(max_length=39)
    enterprise: str | None = None


class NewEnterprise(BaseModel):
    name: str = Field(max_length=64)


@router.get("/orgs/{org}", response_model=OrgOut, responses=STANDARD)
def get_org(request: Request, actor: ApiActor, org: str) -> dict[str, Any]:
    """An organization you belong to (scope read:org)."""
    return org_out(org_settings.org_page(ctx_of(request), actor, org).organization)


@router.patch("/orgs/{org}", response_model=OrgOut, responses=STANDARD)
def patch_org(request: Request, actor: ApiActor, org: str, body: OrgPatch) -> dict[str, Any]:
    """Turn "Require SSH certificates" on or off (owners, scope admin:org). See the preview
    endpoint for who it would lock out."""
    if body.require_ssh_certificates is None:
        return get_org(request, actor, org)
    view = org_settings.set_require_certificates(
        ctx_of(request), actor, org, body.require_ssh_certificates
    )
    return org_out(view)


class LockedOutOut(BaseModel):
    login: str
    role: str = Field(description="owner, member or collaborator")
    last_used_at: dt.datetime
    uses: int


@router.get(
    "/orgs/{org}/ssh-certificate-requirement/preview",
    response_model=list[LockedOutOut],
    responses=STANDARD,
)
def require_preview(
    request: Request,
    actor: ApiActor,
    org: str,
    days: Annotated[int, Query(ge=1, le=365)] = org_settings.PREVIEW_DAYS,
) -> list[dict[str, Any]]:
    """Who used a plain key on the organization's repositories lately: the people requiring
    certificates would lock out (owners)."""
    found = org_settings.require_preview(ctx_of(request), actor, org, days=days)
    return [
        {"login": p.username, "role": p.role, "last_used_at": p.last_used_at, "uses": p.uses}
        for p in found
    ]


@router.get("/orgs/{org}/members", response_model=list[MemberOut], responses=STANDARD)
def members(
    request: Request, response: Response, actor: ApiActor, org: str, page: Paging
) -> list[dict[str, Any]]:
    found = paged(org_settings.org_page(ctx_of(request), actor, org).members, page)
    link_header(request, response, found)
    return [{"login": m.username, "role": m.role, "suspended": m.suspended} for m in found.items]


@router.put("/orgs/{org}/memberships/{username}", response_model=MemberOut, responses=STANDARD)
def set_membership(
    request: Request, actor: ApiActor, org: str, username: str, body: MembershipIn
) -> dict[str, Any]:
    role = "owner" if body.role == "admin" else body.role
    done = org_settings.set_member(ctx_of(request), actor, org, username, role)
    return {"login": done["user"], "role": done["role"], "suspended": False}


@router.delete("/orgs/{org}/memberships/{username}", status_code=204, responses=STANDARD)
def remove_membership(request: Request, actor: ApiActor, org: str, username: str) -> Response:
    org_settings.remove_member(ctx_of(request), actor, org, username)
    return Response(status_code=204)


@router.post(
    "/admin/organizations",
    status_code=201,
    response_model=OrgOut,
    responses={**STANDARD, **errors(409)},
)
def create_org(request: Request, actor: ApiActor, body: NewOrg) -> dict[str, Any]:
    """Create an organization (site admins); you become its owner."""
    return org_out(
        org_settings.create_org(ctx_of(request), actor, body.login, enterprise=body.enterprise)
    )


@router.post("/admin/enterprises", status_code=201, responses={**STANDARD, **errors(409)})
def create_enterprise(request: Request, actor: ApiActor, body: NewEnterprise) -> dict[str, Any]:
    return org_settings.create_enterprise(ctx_of(request), actor, body.name)


# --- certificate authorities -------------------------------------------------------------------


class CAOut(BaseModel):
    id: int
    key: str
    fingerprint: str
    key_type: str
    title: str
    owner_kind: str
    owner: str
    managed: bool = Field(description="The server keeps the private key and issues with it")
    created_at: dt.datetime
    retired_at: dt.datetime | None = Field(description="Trusted until then (rotation)")
    last_used_at: dt.datetime | None
    last_used_address: str | None


def ca_out(view: CAView) -> dict[str, Any]:
    data = view.to_json()
    data["key"] = data.pop("public_key")
    return data


class NewCA(BaseModel):
    key: str | None = Field(default=None, max_length=65536, description="The CA's public key")
    managed: bool = Field(default=False, description="Generate a CA whose key the server keeps")
    key_type: Literal["ed25519", "ecdsa", "rsa"] = "ed25519"
    title: str | None = Field(default=None, max_length=200)


class CAPatch(BaseModel):
    retired_at: dt.datetime = Field(description="From then on it signs nothing and is not trusted")


def _ca_routes(kind: OwnerKind, prefix: str) -> None:
    base = f"/{prefix}/{{name}}/ssh-certificate-authorities"

    def _by_id(request: Request, actor: ApiActor, name: str, ca_id: RowId) -> CAView:
        found = org_settings.ca_settings(ctx_of(request), actor, kind, name).authorities
        for ca in found:
            if ca.id == ca_id:
                return ca
        raise NotFound(f"{name} has no certificate authority with id {ca_id}")

    @router.get(base, response_model=list[CAOut], responses=STANDARD, name=f"{kind}_list_cas")
    def list_cas(
        request: Request, response: Response, actor: ApiActor, name: str, page: Paging
    ) -> list[dict[str, Any]]:
        found = paged(
            org_settings.ca_settings(ctx_of(request), actor, kind, name).authorities, page
        )
        link_header(request, response, found)
        return [ca_out(ca) for ca in found.items]

    @router.post(
        base,
        status_code=201,
        response_model=CAOut,
        responses={**STANDARD, **errors(409)},
        name=f"{kind}_add_ca",
    )
    def add_ca(request: Request, actor: ApiActor, name: str, body: NewCA) -> dict[str, Any]:
        ctx = ctx_of(request)
        if body.managed:
            view = org_settings.create_ca(
                ctx, actor, kind, name, key_type=body.key_type, title=body.title
            )
        elif body.key:
            view = org_settings.add_ca(
                ctx, actor, kind, name, body.key.encode("utf-8"), title=body.title
            )
        else:
            raise InvalidInput("give the CA's public key as key, or managed: true")
        return ca_out(view)

    @router.patch(
        base + "/{ca_id}", response_model=CAOut, responses=STANDARD, name=f"{kind}_retire_ca"
    )
    def retire_ca(
        request: Request, actor: ApiActor, name: str, ca_id: RowId, body: CAPatch
    ) -> dict[str, Any]:
        ca = _by_id(request, actor, name, ca_id)
        at = body.retired_at if body.retired_at.tzinfo else body.retired_at.replace(tzinfo=dt.UTC)
        return ca_out(
            org_settings.retire_ca(ctx_of(request), actor, kind, name, ca.fingerprint, at)
        )

    @router.delete(base + "/{ca_id}", status_code=204, responses=STANDARD, name=f"{kind}_remove_ca")
    def remove_ca(request: Request, actor: ApiActor, name: str, ca_id: RowId) -> Response:
        ca = _by_id(request, actor, name, ca_id)
        org_settings.remove_ca(ctx_of(request), actor, kind, name, ca.fingerprint, confirm=name)
        return Response(status_code=204)


_ca_routes("organization", "orgs")
_ca_routes("enterprise", "enterprises")
