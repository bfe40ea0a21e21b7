"""Errors as JSON: ``{"error": {"code": ..., "message": ...}}`` with a fitting status.

The message is the error's user-facing text; the cause goes only to the log.
"""

from __future__ import annotations

from typing import Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gitward.errors import (
    AlreadyExists,
    CertificateError,
    ConfigurationError,
    GitwardError,
    InvalidInput,
    KeyFormatError,
    KeyRejected,
    NotFound,
    PermissionDenied,
)
from gitward.http.web.security import CSRFRefused
from gitward.services.connector_hosts import HostUnreachable
from gitward.services.issuing import (
    IssuingDisabled,
    KeyRevoked,
    LifetimeTooLong,
    NoManagedCA,
    OptionNotAllowed,
)
from gitward.services.signin import SignInThrottled
from gitward.services.tokens import InsufficientScope, Unauthenticated
from gitward.store.db import StoreUnavailable

log = structlog.get_logger("gitward.http")

# Most specific first: the first class the error is an instance of decides.
STATUS: Final[tuple[tuple[type[GitwardError], int, str], ...]] = (
    (SignInThrottled, 429, "too_many_attempts"),
    (CSRFRefused, 403, "csrf_refused"),
    (IssuingDisabled, 503, "issuing_disabled"),
    (Unauthenticated, 401, "unauthenticated"),
    (InsufficientScope, 403, "insufficient_scope"),
    (KeyRevoked, 403, "key_revoked"),
    (PermissionDenied, 403, "forbidden"),
    (LifetimeTooLong, 422, "lifetime_too_long"),
    (OptionNotAllowed, 422, "option_not_allowed"),
    (KeyRejected, 422, "invalid_key"),
    (KeyFormatError, 422, "invalid_key"),
    (CertificateError, 422, "invalid_request"),
    (InvalidInput, 422, "invalid_request"),
    (NoManagedCA, 409, "no_managed_ca"),
    (NotFound, 404, "not_found"),
    (AlreadyExists, 409, "conflict"),
    (StoreUnavailable, 503, "unavailable"),
    (HostUnreachable, 502, "host_unreachable"),  # the connector scanned a host: no answer
    (ConfigurationError, 500, "server_misconfigured"),
)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _status_for(exc: GitwardError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "refused"


status_for = _status_for  # the web pages answer with the same statuses


async def _gitward_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GitwardError)
    status, code = _status_for(exc)
    log.info("request_refused", path=request.url.path, code=code, cause=exc.cause)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, exc.message), status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    message = f"invalid request: {where}: {first.get('msg', 'malformed')}"
    return JSONResponse(error_body("invalid_request", message), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GitwardError, _gitward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
