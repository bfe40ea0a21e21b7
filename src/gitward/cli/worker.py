"""One worker of `gitward serve --workers N`, started by cli/supervisor.py as
``python -m gitward.cli.worker``; not a command for people.

Reads ``{"index", "count", "settings"}`` as one JSON line on stdin, serves (cli/serve.py's
``run_server``) on the ports the supervisor reserved, writes ``{"http_line", "http_port"}``
as one JSON line on stdout once listening, and stops gracefully on SIGTERM or when stdin
reaches its end (the supervisor is gone). Its log lines carry ``worker=INDEX``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

from gitward.cli.serve import WorkerRole, run_server
from gitward.logging import configure_logging
from gitward.services.context import Context
from gitward.settings import Settings
from gitward.store.db import make_engine


def _ready(http_line: str, http_port: int | None) -> None:
    message = json.dumps({"http_line": http_line, "http_port": http_port}) + "\n"
    with contextlib.suppress(BrokenPipeError):  # the supervisor is gone: stdin tells us too
        os.write(1, message.encode())
    # Nothing else goes to stdout: the supervisor stops reading it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _parent_gone(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    def readable() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            stop()

    os.set_blocking(0, False)
    loop.add_reader(0, readable)


def _tag_worker(index: int) -> None:
    """Put ``worker=INDEX`` first in every log line of this process."""

    def add_worker(logger: Any, name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        event.setdefault("worker", index)
        return event

    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[add_worker, *processors])


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group; until the event loop takes
    # over, the supervisor's SIGTERM is what stops a worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    message = json.loads(sys.stdin.buffer.readline())
    settings = Settings.model_validate(message["settings"])
    configure_logging(settings.log_level)
    _tag_worker(int(message["index"]))
    # The supervisor ran the migrations before starting any worker.
    ctx = Context(engine=make_engine(settings.resolved_database_url), settings=settings)
    role = WorkerRole(
        index=int(message["index"]),
        count=int(message["count"]),
        ready=_ready,
        parent_gone=_parent_gone,
    )
    try:
        asyncio.run(run_server(ctx, role))
    finally:
        ctx.engine.dispose()


if __name__ == "__main__":
    main()
