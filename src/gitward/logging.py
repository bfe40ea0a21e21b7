"""Structured logging (structlog) to standard error.

Admin commands log at WARNING so a failure prints exactly its one ``error:`` line; the
server logs at the configured level, in the configured format (``log_format``):
``console`` for people, ``json`` for log shippers: one JSON object a line, with
``timestamp``, ``level`` and ``event``, plus the fields of the event (an authentication
decision or a git command carries the same fields as its audit event). In JSON mode the
standard library's records (asyncssh, uvicorn) are rendered the same way, at WARNING and
above, so every line of standard error is one JSON object.

Secrets never go to the log: callers pass fingerprints and reasons, never key material or
tokens.
"""

from __future__ import annotations

import logging
import sys

import structlog

_SHARED: list[structlog.typing.Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "warning", *, json: bool = False) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    # JSON has no room for a pretty traceback: it becomes the "exception" field.
    tail = [structlog.processors.format_exc_info, renderer] if json else [renderer]
    structlog.configure(
        processors=[*_SHARED, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    if json:
        _standard_library_as_json(renderer)


def _standard_library_as_json(renderer: structlog.typing.Processor) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
