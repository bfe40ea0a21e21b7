"""Users and their keys: ``/user``, ``/user/keys``, ``/user/ssh-certificates``, and the
site admin's ``/admin/users``, ``/admin/users/{username}/keys``, ``/admin/keys``,
``/users/{username}/suspended`` (GitHub's paths and field names)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
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
from gitward.services import administration, my_account
from gitward.services.views import KeyView, UserView

router = APIRouter(tags=["Users and keys"])


class UserOut(BaseModel):
    id: int
    login: str
    site_admin: bool
    suspended: bool
    created_at: dt.datetime
    renamed_at: dt.datetime | None


def user_out(view: UserView) -> dict[str, Any]:
    return {
        "id": view.id,
        "login": view.username,
        "site_admin": view.site_admin,
        "suspended": view.suspended,
        "created_at": view.created_at,
        "renamed_at": view.renamed_at,
    }


class KeyOut(BaseModel):
    id: int
    key: str = Field(description="The public key as one OpenSSH line (without its comment)")
    title: str
    fingerprint: str
    key_type: str
    bits: int | None
    read_only: bool
    verified: bool = True
    created_at: dt.datetime
    last_used: dt.datetime | None = Field(description="When it last authenticated")
    last_used_address: str | None = Field(description="From where it last authenticated")


def key_out(view: KeyView) -> dict[str, Any]:
    return {
        "id": view.id,
        "key": view.public_key,
        "title": view.title,
        "fingerprint": view.fingerprint,
        "key_type": view.key_type,
        "bits": view.bits,
        "read_only": view.read_only,
        "verified": True,
        "created_at": view.created_at,
        "last_used": view.last_used_at,
        "last_used_address": view.last_used_address,
    }


class NewKey(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    key: str = Field(max_length=65536, description="'ssh-ed25519 AAAA... comment'")


@router.get("/user", response_model=UserOut, responses=errors(401))
def get_user(request: Request, actor: ApiActor) -> dict[str, Any]:
    """The user the token belongs to."""
    return user_out(my_account.me(ctx_of(request), actor))


@router.get("/user/keys", response_model=list[KeyOut], responses=STANDARD)
def list_keys(
    request: Request, response: Response, actor: ApiActor, page: Paging
) -> list[dict[str, Any]]:
    """Your public keys (scope read:public_key)."""
    found = paged(my_account.list_my_keys(ctx_of(request), actor), page)
    link_header(request, response, found)
    return [key_out(k) for k in found.items]


@router.post(
    "/user/keys", status_code=201, response_model=KeyOut, responses={**STANDARD, **errors(409)}
)
def add_key(request: Request, actor: ApiActor, body: NewKey) -> dict[str, Any]:
    """Add a public key (scope write:public_key); refused with the CLI's own words."""
    view = my_account.add_my_key(ctx_of(request), actor, body.key.encode("utf-8"), title=body.title)
    return key_out(view)


@router.get("/user/keys/{key_id}", response_model=KeyOut, responses=STANDARD)
def get_key(request: Request, actor: ApiActor, key_id: RowId) -> dict[str, Any]:
    return key_out(my_account.my_key(ctx_of(request), actor, key_id))


@router.delete("/user/keys/{key_id}", status_code=204, responses=STANDARD)
def delete_key(request: Request, actor: ApiActor, key_id: RowId) -> Response:
    my_account.remove_my_key(ctx_of(request), actor, key_id)
    return Response(status_code=204)


# --- the user's certificates ---------------------------------------------------------------


class CertificateOut(BaseModel):
    serial: int
    key_id: str
    user: str
    organization: str | None
    ca_fingerprint: str
    public_key_fingerprint: str
    valid_after: dt.datetime
    valid_before: dt.datetime
    status: str = Field(description="valid, not yet valid, expired or revoked")
    created_at: dt.datetime
    requester_address: str | None
    certificate: str


@router.get("/user/ssh-certificates", response_model=list[CertificateOut], responses=STANDARD)
def my_certificates(
    request: Request, response: Response, actor: ApiActor, page: Paging
) -> list[dict[str, Any]]:
    """Certificates issued to you (scope cert:read), newest first."""
    found = my_account.list_my_certificates(ctx_of(request), actor, page)
    link_header(request, response, found)
    return [c.to_json() for c in found.items]


@router.post("/user/ssh-certificates/{serial}/revoke", responses=STANDARD)
def revoke_my_certificate(request: Request, actor: ApiActor, serial: int) -> dict[str, Any]:
    """Revoke one of your certificates (scope cert:issue): refused on the next connection."""
    return my_account.revoke_my_certificate(ctx_of(request), actor, serial).to_json()


# --- site admin: users ----------------------------------------------------------------------


class NewUser(BaseModel):
    login: str = Field(max_length=39)
    site_admin: bool = False


class CreatedUser(UserOut):
    invitation_url: str = Field(description="A one-time link with which the user sets a password")


class UserPatch(BaseModel):
    login: str = Field(max_length=39, description="The new user name (a rename)")


@router.get("/admin/users", response_model=list[UserOut], responses=STANDARD)
def list_users(
    request: Request, response: Response, actor: ApiActor, page: Paging
) -> list[dict[str, Any]]:
    found = paged(administration.list_users(ctx_of(request), actor), page)
    link_header(request, response, found)
    return [user_out(u) for u in found.items]


@router.post(
    "/admin/users",
    status_code=201,
    response_model=CreatedUser,
    responses={**STANDARD, **errors(409)},
)
def create_user(request: Request, actor: ApiActor, body: NewUser) -> dict[str, Any]:
    made = administration.create_user(
        ctx_of(request), actor, body.login, site_admin=body.site_admin
    )
    return {**user_out(made.user), "invitation_url": made.invitation_url}


@router.patch(
    "/admin/users/{username}", response_model=UserOut, responses={**STANDARD, **errors(409)}
)
def rename_user(
    request: Request, actor: ApiActor, username: str, body: UserPatch
) -> dict[str, Any]:
    return user_out(administration.rename_user(ctx_of(request), actor, username, body.login))


@router.put("/users/{username}/suspended", status_code=204, responses=STANDARD)
def suspend(request: Request, actor: ApiActor, username: str) -> Response:
    administration.set_suspended(ctx_of(request), actor, username, True)
    return Response(status_code=204)


@router.delete("/users/{username}/suspended", status_code=204, responses=STANDARD)
def unsuspend(request: Request, actor: ApiActor, username: str) -> Response:
    administration.set_suspended(ctx_of(request), actor, username, False)
    return Response(status_code=204)


@router.get("/admin/users/{username}/keys", response_model=list[KeyOut], responses=STANDARD)
def user_keys(
    request: Request, response: Response, actor: ApiActor, username: str, page: Paging
) -> list[dict[str, Any]]:
    found = paged(administration.user_keys(ctx_of(request), actor, username), page)
    link_header(request, response, found)
    return [key_out(k) for k in found.items]


@router.post(
    "/admin/users/{username}/keys",
    status_code=201,
    response_model=KeyOut,
    responses={**STANDARD, **errors(409)},
)
def add_user_key(request: Request, actor: ApiActor, username: str, body: NewKey) -> dict[str, Any]:
    """Add a key for a user; a key in use elsewhere is refused saying where."""
    view = administration.add_user_key(
        ctx_of(request), actor, username, body.key.encode("utf-8"), title=body.title
    )
    return key_out(view)


@router.delete("/admin/users/{username}/keys/{key_id}", status_code=204, responses=STANDARD)
def delete_user_key(request: Request, actor: ApiActor, username: str, key_id: RowId) -> Response:
    administration.remove_user_key(ctx_of(request), actor, username, key_id)
    return Response(status_code=204)


class KeyHolderOut(BaseModel):
    fingerprint: str
    kind: str = Field(description="user key, deploy key, certificate authority, ...")
    owner: str
    title: str
    revoked: bool
    last_used_at: dt.datetime | None
    last_used_address: str | None
    certificates_issued: int


@router.get("/admin/keys", response_model=KeyHolderOut, responses=STANDARD)
def who_holds(
    request: Request,
    actor: ApiActor,
    fingerprint: Annotated[str, Query(description="SHA256:... or a public key line")],
) -> dict[str, Any]:
    """Who holds this key? (site admins)"""
    from gitward.errors import NotFound

    holder = administration.who_holds(ctx_of(request), actor, fingerprint)
    if holder is None:
        raise NotFound("nobody holds this key here")
    return holder.to_json()
