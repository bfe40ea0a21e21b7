"""The signed-in person's own pages: home, keys, tokens, certificates, password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from gitward.errors import GitwardError
from gitward.http.api.deps import RowId
from gitward.http.web.pages import (
    CurrentActor,
    base_url,
    ctx_of,
    echo_key,
    failed,
    peer_of,
    redirect,
    render,
)
from gitward.http.web.security import set_session_cookie
from gitward.services import my_account, signin, tokens
from gitward.services.actor import Actor
from gitward.services.issuing import IssueRequest, IssuingDisabled

router = APIRouter()

Text = Annotated[str, Form()]
OptionalText = Annotated[str, Form()]


@router.get("/")
def home(request: Request, actor: CurrentActor) -> Response:
    ctx = ctx_of(request)
    return render(
        request,
        "account/home.html",
        repositories=my_account.my_repositories(ctx, actor),
        memberships=my_account.my_organizations(ctx, actor),
    )


@router.get("/repositories")
def repositories(request: Request, actor: CurrentActor) -> Response:
    return render(
        request,
        "account/repositories.html",
        repositories=my_account.my_repositories(ctx_of(request), actor),
        memberships=my_account.my_organizations(ctx_of(request), actor),
    )


@router.get("/organizations")
def organizations(request: Request, actor: CurrentActor) -> Response:
    return render(
        request,
        "account/organizations.html",
        memberships=my_account.my_organizations(ctx_of(request), actor),
    )


@router.get("/settings")
def settings(actor: CurrentActor) -> Response:
    return redirect("/settings/keys")


# --- keys ------------------------------------------------------------------------------


def _keys_page(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    return {"keys": my_account.list_my_keys(ctx_of(request), actor), **data}


@router.get("/settings/keys")
def keys_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "account/keys.html", **_keys_page(request, actor, key="", title=""))


@router.post("/settings/keys")
def add_key(request: Request, actor: CurrentActor, key: Text, title: OptionalText = "") -> Response:
    try:
        my_account.add_my_key(ctx_of(request), actor, key.encode("utf-8"), title=title.strip())
    except GitwardError as exc:
        data = _keys_page(request, actor, key=echo_key(key), title=title)
        return failed(request, "account/keys.html", exc, **data)
    return redirect("/settings/keys", "key-added")


@router.post("/settings/keys/{key_id}/delete")
def remove_key(request: Request, actor: CurrentActor, key_id: RowId) -> Response:
    my_account.remove_my_key(ctx_of(request), actor, key_id)
    return redirect("/settings/keys", "key-removed")


# --- tokens ------------------------------------------------------------------------------


def _tokens_page(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    return {
        "tokens": my_account.list_my_tokens(ctx_of(request), actor),
        "scopes": sorted(tokens.SCOPES),
        "created": None,
        **data,
    }


@router.get("/settings/tokens")
def tokens_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "account/tokens.html", **_tokens_page(request, actor))


@router.post("/settings/tokens")
async def create_token(request: Request, actor: CurrentActor) -> Response:
    form = await request.form()
    scopes = tuple(str(s) for s in form.getlist("scopes"))
    title = str(form.get("title", ""))
    expires = str(form.get("expires", "30d"))

    def make() -> Response:
        try:
            made = my_account.create_my_token(
                ctx_of(request), actor, scopes=scopes, expires=expires, title=title
            )
        except GitwardError as exc:
            return failed(request, "account/tokens.html", exc, **_tokens_page(request, actor))
        # Shown once, on this response only (never stored, never rendered again).
        return render(request, "account/tokens.html", **_tokens_page(request, actor, created=made))

    return await run_in_threadpool(make)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, actor: CurrentActor, token_id: RowId) -> Response:
    my_account.revoke_my_token(ctx_of(request), actor, token_id)
    return redirect("/settings/tokens", "token-revoked")


# --- certificates --------------------------------------------------------------------------


def _certificates_page(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    ctx = ctx_of(request)
    return {
        "certificates": my_account.list_my_certificates(ctx, actor),
        "memberships": my_account.my_organizations(ctx, actor),
        "issuing_enabled": request.app.state.issuer is not None,
        "issuing_disabled_reason": request.app.state.issuing_disabled,
        "web_url": base_url(request),
        "issued": None,
        "public_key": "",
        **data,
    }


@router.get("/settings/certificates")
def certificates_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "account/certificates.html", **_certificates_page(request, actor))


@router.post("/settings/certificates")
def get_certificate(
    request: Request,
    actor: CurrentActor,
    public_key: Text,
    organization: OptionalText = "",
    validity: OptionalText = "",
) -> Response:
    issuer = request.app.state.issuer
    try:
        if issuer is None:
            raise IssuingDisabled(request.app.state.issuing_disabled or "issuing is disabled")
        result = issuer.issue_as(
            actor.user_id,
            IssueRequest(
                public_key=public_key,
                organization=organization or None,
                validity=validity or None,
                peer=peer_of(request),
            ),
        )
    except GitwardError as exc:
        data = _certificates_page(request, actor, public_key=echo_key(public_key))
        return failed(request, "account/certificates.html", exc, **data)
    data = _certificates_page(request, actor, issued=result)
    return render(request, "account/certificates.html", **data)


@router.get("/settings/certificates/{serial}/cert.pub")
def download_certificate(request: Request, actor: CurrentActor, serial: int) -> Response:
    cert = my_account.my_certificate(ctx_of(request), actor, serial)
    return PlainTextResponse(
        cert.certificate + "\n",
        headers={"Content-Disposition": 'attachment; filename="id_ed25519-cert.pub"'},
    )


@router.post("/settings/certificates/{serial}/revoke")
def revoke_certificate(request: Request, actor: CurrentActor, serial: int) -> Response:
    my_account.revoke_my_certificate(ctx_of(request), actor, serial)
    return redirect("/settings/certificates", "certificate-revoked")


# --- password and sessions ---------------------------------------------------------------


@router.get("/settings/security")
def security_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "account/security.html")


@router.post("/settings/security/password")
def change_password(
    request: Request,
    actor: CurrentActor,
    current: OptionalText = "",
    new: Text = "",
    confirm: Text = "",
) -> Response:
    ctx = ctx_of(request)
    try:
        new_session = signin.change_password(ctx, actor, current, new, confirm)
    except GitwardError as exc:
        return failed(request, "account/security.html", exc)
    response = redirect("/settings/security", "password-changed")
    set_session_cookie(response, request, ctx, new_session)
    return response
