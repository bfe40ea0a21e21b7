"""The HTTP transport's outer guard: the safety net for our own faults.

A pure ASGI middleware, outermost in the app. Whatever a handler raises that no exception
handler answered (a bug, a library's surprise) is logged once with its traceback under
``request_crashed`` and answered with a 500 that says nothing of the cause: the JSON error
shape under ``/api/``, a plain page elsewhere (no template: rendering may be what broke).
A response already under way cannot be replaced; it is cut short (the server closes the
connection).

Everything the *client* sent that is wrong is answered 4xx by the exception handlers in
``http/errors.py`` and ``http/web/site.py`` before it reaches this net.
"""

from __future__ import annotations

import json
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("gitward.http")

_PAGE: Final = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Server error</title>"
    b"<h1>Something went wrong on our side</h1>"
    b"<p>The request could not be completed. It was not a problem with what you sent; "
    b"the server's log has the details. Try again, or tell the administrator.</p></html>"
)
_API_MESSAGE: Final = "internal server error (the server's log has the cause)"


def error_response_parts(
    scope: Scope, status: int, code: str, message: str, *, close: bool = False
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of an error: JSON under /api/, a plain page elsewhere."""
    api = str(scope.get("path", "")).startswith("/api/")
    if api:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        kind = b"application/json"
    else:
        body = _PAGE if status >= 500 else _plain_page(status, message)
        kind = b"text/html; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    return headers, body


def _plain_page(status: int, message: str) -> bytes:
    from html import escape

    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Request refused</title>"
        f"<h1>Request refused ({status})</h1><p>{escape(message)}</p></html>"
    ).encode()


async def send_error(
    scope: Scope, send: Send, status: int, code: str, message: str, *, close: bool = False
) -> None:
    headers, body = error_response_parts(scope, status, code, message, close=close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SafetyNet:
    """Answers 500 (and logs the traceback) for any exception that escapes the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error(
                "request_crashed",
                method=scope.get("method"),
                path=scope.get("path"),
                error=type(exc).__name__,
                response_started=started,
                exc_info=exc,
            )
            if started:
                return  # too late for a clean answer: the server closes the connection
            await send_error(scope, send, 500, "internal_error", _API_MESSAGE, close=True)
