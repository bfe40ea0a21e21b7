"""What every CLI command shares: the exit-code contract and JSON output.

Exit 0 on success; 1 on a refused or failed operation, with exactly one line
``error: ...`` on stderr; 2 on usage errors (Click's own). Causes go to the log, never to
the user's terminal.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import structlog

from gitward.errors import GitwardError

P = ParamSpec("P")
R = TypeVar("R")

log = structlog.get_logger("gitward.cli")


def fail(message: str) -> NoReturn:
    """Print one ``error:`` line and exit 1."""
    click.echo(f"error: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(1)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Gitward's own errors into the ``error: ...`` line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GitwardError as exc:
            log.debug("command_failed", error=type(exc).__name__, cause=exc.cause)
            fail(exc.message)

    return wrapper


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
