"""Run the real FastAPI app under uvicorn on 127.0.0.1, on a free port, in a thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gitward.http.server import HttpServer
from gitward.services.context import Context


@contextlib.contextmanager
def live_server(ctx: Context) -> Iterator[str]:
    """Yield the base URL; stop the server (and wait for its thread) afterwards."""
    server = HttpServer(ctx, "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
