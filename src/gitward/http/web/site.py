"""Put the web UI into the FastAPI app: routers (each behind the one CSRF dependency),
static files, security headers, and error pages for browsers (JSON stays for /api/)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gitward.errors import GitwardError
from gitward.http import errors as api_errors
from gitward.http.web import (
    account_pages,
    admin_pages,
    auth_pages,
    connector_pages,
    org_pages,
    repo_pages,
)
from gitward.http.web.pages import SignInRequired, csrf_protect, error_status, redirect, render
from gitward.http.web.security import SecurityHeaders

STATIC = Path(__file__).parent / "static"


def routers() -> list[APIRouter]:
    """Every page router; a new section adds its router here and its entry in nav.py."""
    return [
        auth_pages.router,
        account_pages.router,
        org_pages.router,
        repo_pages.router,
        admin_pages.router,
        connector_pages.router,
    ]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _gitward_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GitwardError)
    if _is_api(request):
        return await api_errors._gitward_error(request, exc)
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/login", next=target)
    api_errors.log.info("page_refused", path=request.url.path, cause=exc.cause)
    return render(request, "error.html", status_code=error_status(exc), error=exc.message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return await api_errors._validation_error(request, exc)
    return render(request, "error.html", status_code=422, error="The form is incomplete.")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return await api_errors._http_error(request, exc)
    message = "Page not found." if exc.status_code == 404 else str(exc.detail)
    return render(request, "error.html", status_code=exc.status_code, error=message)


def install(app: FastAPI) -> None:
    for router in routers():
        app.include_router(router, dependencies=[Depends(csrf_protect)], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(GitwardError, _gitward_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(SecurityHeaders)
