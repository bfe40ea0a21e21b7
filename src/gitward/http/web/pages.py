"""The plumbing every page shares: who is signed in, rendering, redirects, errors.

Views call services and hand their results to a template; templates only present (Jinja2
with autoescaping on for every template, so any user-supplied text is escaped). A POST
that succeeds answers 303 See Other to a page that shows the result (a reload does not
repeat it), with a fixed notice chosen by code; one that fails renders its form again with
the error's one-line message, with the status the API would give.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from gitward import __version__
from gitward.errors import GitwardError, InvalidInput
from gitward.http.errors import status_for
from gitward.http.web import nav
from gitward.http.web.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    check_csrf,
    pre_session_token,
    remember_pre_session_token,
)
from gitward.keys.upload import looks_private
from gitward.services import signin
from gitward.services.actor import Actor
from gitward.services.context import Context

TEMPLATES: Final = Path(__file__).parent / "templates"

# Fixed texts for ?notice=CODE after a redirect: nothing a visitor puts in a URL is shown.
NOTICES: Final = {
    "key-added": "The key was added.",
    "key-removed": "The key was removed.",
    "token-revoked": "The token was revoked.",
    "certificate-revoked": "The certificate was revoked: the next connection with it is refused.",
    "password-changed": "Your password was changed; other browsers were signed out.",
    "signed-out-everywhere": "Every browser signed in as you was signed out.",
    "ca-added": "The certificate authority was added.",
    "ca-created": "The certificate authority was created; its private key stays on the server.",
    "ca-retired": "The retirement date was set.",
    "ca-removed": "The certificate authority was removed.",
    "required-on": "SSH certificates are now required for this organization's repositories.",
    "required-off": "SSH certificates are no longer required.",
    "member-saved": "The membership was saved.",
    "member-removed": "The member was removed.",
    "repo-created": "The repository was created.",
    "deploy-key-added": "The deploy key was added.",
    "deploy-key-removed": "The deploy key was removed.",
    "collaborator-saved": "The collaborator was saved.",
    "collaborator-removed": "The collaborator was removed.",
    "user-saved": "The user was saved.",
    "org-created": "The organization was created; you are its owner.",
    "enterprise-created": "The enterprise was created.",
    "revoked": "Revoked: the next connection with it is refused.",
    "connector-key-saved": "The connector's key was saved; its private key stays on the server.",
    "host-pinned": "The host key was pinned: every repository on that host and port uses it.",
    "host-unpinned": "The host's pins were removed: its repositories are refused until one "
    "is pinned again.",
    "connector-repo-removed": "The repository was disconnected; its mirror and index are gone.",
    "sync-queued": "The sync was queued: gitward serve starts it within seconds.",
}


def _when(value: Any) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


ENV: Final = _environment()


class SignInRequired(GitwardError):
    """A page that needs a signed-in browser was asked for without one (303 to /login)."""


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def peer_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def signed_in(request: Request) -> signin.SignedIn | None:
    """The browser's session, looked up once per request (one indexed query)."""
    if not hasattr(request.state, "signed_in"):
        token = request.cookies.get(SESSION_COOKIE)
        request.state.signed_in = (
            signin.resolve_session(ctx_of(request), token, peer_of(request)) if token else None
        )
    found: signin.SignedIn | None = request.state.signed_in
    return found


def require_actor(request: Request) -> Actor:
    found = signed_in(request)
    if found is None:
        raise SignInRequired("sign in first")
    return found.actor


CurrentActor = Annotated[Actor, Depends(require_actor)]


async def csrf_protect(request: Request) -> None:
    """The one CSRF check, a dependency of the whole web router: every POST."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()  # Starlette keeps it: the handler reads the same form
    submitted = form.get(CSRF_FIELD)
    found = signed_in(request)
    expected = found.csrf_token if found else pre_session_token(request)
    check_csrf(
        request, ctx_of(request), submitted if isinstance(submitted, str) else None, expected
    )


def csrf_token(request: Request) -> str:
    found = signed_in(request)
    return found.csrf_token if found else pre_session_token(request)


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    **data: Any,
) -> HTMLResponse:
    found = signed_in(request)
    actor = found.actor if found else None
    admin = bool(actor and actor.site_admin)
    path = request.url.path
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = ENV.get_template(template).render(
        me=actor,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        nav=nav.visible(nav.TOP, admin) if actor else [],
        settings_nav=nav.SETTINGS_SECTIONS,
        admin_nav=nav.visible(nav.ADMIN_SECTIONS, admin),
        path=path,
        notice=notice,
        error=error,
        version=__version__,
        **data,
    )
    response = HTMLResponse(html, status_code=status_code)
    # Pages can show a new token or certificate once: never keep them in a cache.
    response.headers["Cache-Control"] = "no-store"
    remember_pre_session_token(request, response, ctx_of(request))
    return response


def redirect(path: str, notice: str | None = None, **query: str) -> RedirectResponse:
    params = {k: v for k, v in query.items() if v}
    if notice:
        assert notice in NOTICES, notice
        params["notice"] = notice
    target = path + ("?" + urlencode(params) if params else "")
    return RedirectResponse(target, status_code=303)


def error_status(exc: GitwardError) -> int:
    return status_for(exc)[0]


def failed(request: Request, template: str, exc: GitwardError, **data: Any) -> Response:
    """Render ``template`` again with the error's message (and the form's values)."""
    return render(request, template, status_code=error_status(exc), error=exc.message, **data)


def base_url(request: Request) -> str:
    """The address links point at: ``web_url`` when set (behind a proxy), else the one this
    request came to."""
    configured = ctx_of(request).settings.web_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def echo_key(text: str) -> str:
    """What a key form shows back after a refusal: the text, unless it is a private key,
    which is never rendered (not even to the person who pasted it)."""
    return "" if looks_private(text.encode("utf-8", "replace")) else text


def form_time(text: str, *, zone_for_times: bool = False) -> dt.datetime | None:
    """A date (2027-01-31: midnight UTC) or a time from a form; empty is None. A time
    without a zone is UTC for a filter, but refused where it sets something
    (``zone_for_times``), as ``gitward ca retire --at`` does."""
    value = text.strip()
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"invalid time {value[:40]!r}: write 2027-01-31 or 2027-01-31T08:00Z"
        ) from exc
    if when.tzinfo is None:
        if zone_for_times and len(value) > 10:
            raise InvalidInput(f"the time {value[:40]!r} needs a zone, e.g. {value[:40]}Z")
        when = when.replace(tzinfo=dt.UTC)
    return when


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
