"""Serve Gitward's HTTP API (``create_app``) with uvicorn on a free loopback port; print
``listening on 127.0.0.1:PORT``. Used by the issuing benchmark while ``gitward serve`` does
not start the HTTP transport itself.

    python -m bench.issuer_app DATA_DIR HOSTNAME
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn

from gitward.http.app import create_app
from gitward.logging import configure_logging
from gitward.services.context import open_context
from gitward.settings import Settings


def main() -> None:
    data_dir, hostname = Path(sys.argv[1]), sys.argv[2]
    configure_logging("warning")
    ctx = open_context(Settings(data_dir=data_dir, hostname=hostname), actor="http")
    app = create_app(ctx)
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets created with it (a plain
    # socket.socket() would leave Nagle on and add ~40 ms to every keep-alive response).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)  # connections queue until uvicorn accepts them
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
