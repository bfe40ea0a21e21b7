"""Run the real FastAPI app under uvicorn on 127.0.0.1, on a free port, in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn

from gitward.http.app import create_app
from gitward.services.context import Context


@contextlib.contextmanager
def live_server(ctx: Context) -> Iterator[str]:
    """Yield the base URL; stop the server (and wait for its thread) afterwards."""
    app = create_app(ctx)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = threading.Event()
        # Wait for the start-up flag without timing assertions: poll until it is set.
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            started.wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
