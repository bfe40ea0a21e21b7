"""What every page shares for safety: the session cookie, CSRF, security headers.

- The session cookie ``gw_session`` holds a random token (the database keys the session
  by its SHA-256): HttpOnly, SameSite=Lax, Secure when the site is served over https
  (``web_url`` https:// or the request itself), Path=/.
- CSRF: every state-changing form posts ``csrf_token``. For a signed-in browser it must
  equal the token stored with the session (a synchronizer token, rotated with the session
  at sign-in); before sign-in (the sign-in, setup and invitation forms) it must equal the
  ``gw_csrf`` cookie (double submit), so a foreign site cannot sign a visitor in as the
  attacker. A request whose Origin header names another site is refused too. It is one
  dependency on the whole web router (``csrf_protect``), not a check per handler. The JSON
  API under /api/v1 never reads cookies (bearer tokens only), so it needs no CSRF token.
- Headers on every response: a Content-Security-Policy allowing only this origin's own
  scripts and styles (no inline script), frame-ancestors 'none' (and X-Frame-Options for
  old browsers), nosniff, and Referrer-Policy same-origin (sign-in links carry a token in
  their path; no other site may see it. Not no-referrer: with it browsers send
  ``Origin: null`` on our own forms, and the origin check could not tell them apart).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitward.errors import PermissionDenied
from gitward.services import signin
from gitward.services.context import Context

SESSION_COOKIE: Final = "gw_session"
PRE_CSRF_COOKIE: Final = "gw_csrf"
CSRF_FIELD: Final = "csrf_token"

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
# FastAPI's interactive API docs load their script from a CDN (unreachable offline anyway);
# everything else gets the strict policy.
_NO_CSP_PATHS: Final = ("/api/v1/docs",)


class CSRFRefused(PermissionDenied):
    """A state-changing form without the right token, or from another origin (HTTP 403)."""


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NO_CSP_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, with_headers)


def is_https(request: Request, ctx: Context) -> bool:
    return request.url.scheme == "https" or ctx.settings.resolved_web_url.startswith("https://")


def set_session_cookie(
    response: Response, request: Request, ctx: Context, new: signin.NewSession
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=new.max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request, ctx),
    )


def clear_session_cookie(response: Response, request: Request, ctx: Context) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request, ctx)
    )


def pre_session_token(request: Request) -> str:
    """The anonymous visitor's CSRF token (made on first sight, sent back as a cookie)."""
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if not token or len(token) > 64:
        token = getattr(request.state, "new_pre_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_pre_csrf = token
    return token


def remember_pre_session_token(request: Request, response: Response, ctx: Context) -> None:
    token = getattr(request.state, "new_pre_csrf", None)
    if token:
        response.set_cookie(
            PRE_CSRF_COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="lax",
            secure=is_https(request, ctx),
        )


def _same_origin(request: Request, ctx: Context) -> bool:
    """No Origin header (older browsers, scripts) passes: the token decides alone."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin in (own, ctx.settings.resolved_web_url)


def check_csrf(request: Request, ctx: Context, submitted: str | None, expected: str) -> None:
    if not _same_origin(request, ctx):
        raise CSRFRefused(
            "this form was sent from another site and was refused",
            cause=f"origin {request.headers.get('origin')!r}",
        )
    if not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CSRFRefused(
            "the form has expired or did not come from this site: reload the page and try again",
            cause="csrf token missing or wrong",
        )
