"""Signing in and out: password, the link ``ssh git@HOST login`` prints, invitations, and
the first-run setup link. A link's GET only shows what it does; the POST uses it (mail
scanners and link previews fetch GET links, and must not spend them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from gitward.errors import GitwardError
from gitward.http.web.pages import (
    ctx_of,
    failed,
    peer_of,
    redirect,
    render,
    safe_next,
    signed_in,
)
from gitward.http.web.security import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from gitward.services import signin

router = APIRouter()

Text = Annotated[str, Form()]


def _signed_in_response(request: Request, new: signin.NewSession, target: str) -> Response:
    # The old cookie's session (if any) ends: a session id is never carried across sign-in.
    signin.end_session(ctx_of(request), request.cookies.get(SESSION_COOKIE))
    response = redirect(safe_next(target))
    set_session_cookie(response, request, ctx_of(request), new)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    if signed_in(request) is not None:
        return redirect(safe_next(next))
    return render(request, "auth/login.html", next=safe_next(next), username="")


@router.post("/login")
def login(
    request: Request, username: Text, password: Text, next: Annotated[str, Form()] = "/"
) -> Response:
    ctx = ctx_of(request)
    try:
        new = signin.sign_in_password(ctx, username, password, peer=peer_of(request))
    except GitwardError as exc:
        return failed(request, "auth/login.html", exc, next=safe_next(next), username=username)
    return _signed_in_response(request, new, next)


@router.post("/logout")
def logout(request: Request, everywhere: Annotated[str, Form()] = "") -> Response:
    ctx = ctx_of(request)
    found = signed_in(request)
    if found is not None and everywhere:
        signin.end_all_sessions(ctx, found.actor)
    else:
        signin.end_session(ctx, request.cookies.get(SESSION_COOKIE))
    response = redirect("/login")
    clear_session_cookie(response, request, ctx)
    return response


def _link_page(request: Request, token: str, purpose: str, template: str) -> Response:
    try:
        info = signin.peek_link(ctx_of(request), token, purpose)
    except GitwardError as exc:
        return failed(request, "auth/link_invalid.html", exc)
    return render(request, template, token=token, info=info, username="")


@router.get("/login/ssh/{token}")
def ssh_link(request: Request, token: str) -> Response:
    return _link_page(request, token, signin.PURPOSE_SSH, "auth/ssh_link.html")


@router.post("/login/ssh/{token}")
def use_ssh_link(request: Request, token: str) -> Response:
    try:
        new = signin.redeem_ssh_link(ctx_of(request), token, peer=peer_of(request))
    except GitwardError as exc:
        return failed(request, "auth/link_invalid.html", exc)
    return _signed_in_response(request, new, "/")


@router.get("/invite/{token}")
def invitation(request: Request, token: str) -> Response:
    return _link_page(request, token, signin.PURPOSE_INVITE, "auth/invite.html")


@router.post("/invite/{token}")
def accept_invitation(request: Request, token: str, password: Text, confirm: Text) -> Response:
    ctx = ctx_of(request)
    try:
        new = signin.accept_invite(ctx, token, password, confirm, peer=peer_of(request))
    except GitwardError as exc:
        try:
            info = signin.peek_link(ctx, token, signin.PURPOSE_INVITE)
        except GitwardError:
            return failed(request, "auth/link_invalid.html", exc)
        return failed(request, "auth/invite.html", exc, token=token, info=info)
    return _signed_in_response(request, new, "/settings/keys")


@router.get("/setup/{token}")
def setup(request: Request, token: str) -> Response:
    return _link_page(request, token, signin.PURPOSE_SETUP, "auth/setup.html")


@router.post("/setup/{token}")
def complete_setup(
    request: Request, token: str, username: Text, password: Text, confirm: Text
) -> Response:
    ctx = ctx_of(request)
    try:
        new = signin.complete_setup(
            ctx, token, username.strip(), password, confirm, peer=peer_of(request)
        )
    except GitwardError as exc:
        try:
            info = signin.peek_link(ctx, token, signin.PURPOSE_SETUP)
        except GitwardError:
            return failed(request, "auth/link_invalid.html", exc)
        return failed(request, "auth/setup.html", exc, token=token, info=info, username=username)
    return _signed_in_response(request, new, "/settings/keys")
