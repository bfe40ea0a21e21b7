"""The HTTP transport: ``create_app(ctx)`` builds the FastAPI application.

Only this package imports FastAPI/Starlette. The API lives under ``/api/v1``, its OpenAPI
schema at ``/api/v1/openapi.json`` and its docs at ``/api/v1/docs``. Creating the app
loads the managed-CA secret, so a deployment without one (PostgreSQL) refuses to start
and says what to set, instead of failing on the first request.

Run it with uvicorn (``gitward serve`` does): ``uvicorn.run(create_app(ctx), ...)``. The
handlers call the synchronous services in the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from gitward import __version__
from gitward.http import errors
from gitward.http.api import certificates, connector
from gitward.services.context import Context
from gitward.services.issuing import Issuer

API_PREFIX = "/api/v1"


def create_app(ctx: Context) -> FastAPI:
    issuer = Issuer(ctx)  # raises ConfigurationError without a CA secret
    app = FastAPI(
        title="Gitward API",
        version=__version__,
        description="Self-service SSH certificates for Gitward users.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.issuer = issuer
    app.state.ctx = ctx
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(certificates.router)
    api.include_router(connector.router)
    app.include_router(api)
    errors.install(app)
    return app
