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


# ---- limits on what a request may send -------------------------------------------------


class _BodyTooLarge(Exception):
    """Raised from ``receive`` once a body passes its cap (never leaves this module)."""


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _head_size(scope: Scope) -> int:
    """About the size of the request line and headers as sent."""
    line = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))


class BodyLimit:
    """Caps request bodies: ``default_cap`` bytes, or the cap of the first route pattern
    (a path prefix and suffix) that matches. A declared ``Content-Length`` over the cap is
    answered 413 before a byte of the body is read; a chunked body is counted as it
    streams and answered 413 as soon as it passes the cap. Either way the connection is
    closed after the answer, so the rest of the body is never read."""

    def __init__(
        self,
        app: ASGIApp,
        default_cap: int,
        route_caps: tuple[tuple[str, str, int], ...] = (),
        header_cap: int | None = None,
    ) -> None:
        self.app = app
        self.default_cap = default_cap
        self.route_caps = route_caps
        self.header_cap = header_cap

    def cap_for(self, path: str) -> int:
        for prefix, suffix, cap in self.route_caps:
            if path.startswith(prefix) and path.endswith(suffix):
                return cap
        return self.default_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.header_cap is not None and _head_size(scope) > self.header_cap:
            # The server refuses a head that arrives in pieces past the cap (431); one that
            # arrived in a single read is parsed whole, so it is measured here as well.
            message = f"the request line and headers must be at most {self.header_cap} bytes"
            await send_error(scope, send, 431, "headers_too_large", message, close=True)
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(str(scope.get("path", "")))
        declared = [v for k, v in scope.get("headers", ()) if k == b"content-length"]
        if declared:
            length = declared[0].strip()
            if len(declared) > 1 or not length.isdigit() or len(length) > 18:
                await send_error(
                    scope, send, 400, "invalid_request", "invalid Content-Length", close=True
                )
                return
            if int(length) > cap:
                await self._refuse(scope, send, cap, declared=int(length))
                return
        seen = 0
        too_large = False
        replaced = False

        async def counted() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # A handler (or FastAPI's body parser) may turn the exception into an answer
            # of its own ("error parsing the body"): the 413 replaces it.
            nonlocal replaced
            if too_large:
                if not replaced and message["type"] == "http.response.start":
                    replaced = True
                    await self._refuse(scope, send, cap, declared=None)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not too_large:  # a fault of ours: the safety net outside logs it
                raise
        if too_large and not replaced:
            await self._refuse(scope, send, cap, declared=None)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, cap: int, *, declared: int | None) -> None:
        log.info(
            "request_refused",
            path=scope.get("path"),
            code="body_too_large",
            cause=f"body of {declared} bytes declared" if declared else "body streamed past cap",
            cap=cap,
        )
        message = f"the request body must be at most {cap} bytes"
        await send_error(scope, send, 413, "body_too_large", message, close=True)
