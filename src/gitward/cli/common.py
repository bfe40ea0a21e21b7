"""What every CLI command shares: the exit-code contract and JSON output.

Exit 0 on success; 1 on a refused or failed operation, with exactly one line
``error: ...`` on stderr; 2 on usage errors (Click's own). Causes go to the log, never to
the user's terminal.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
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
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors (exit 2) and Click's own exits keep their contract
        except Exception as exc:  # the safety net: our fault, never a traceback on screen
            crashed(exc)

    return wrapper


class SafeGroup(click.Group):
    """The root group: any command (decorated with ``handle_errors`` or not) that raises
    something unexpected ends with one ``error:`` line and exit 1, its traceback logged."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitwardError as exc:
            fail(exc.message)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            crashed(exc)


def crashed(exc: Exception) -> NoReturn:
    """Our fault: the traceback to the crash log, one line to the user, exit 1."""
    where = _write_crash_log(exc)
    log.debug("command_crashed", error=type(exc).__name__, crash_log=str(where))
    fail(
        f"internal error ({type(exc).__name__}), not a problem with your input; "
        f"the traceback is in {where}"
    )


def _write_crash_log(exc: BaseException) -> Path:
    """Append the traceback to DATA_DIR/log/cli-errors.log (0600), or to the temp directory
    when there is no data directory yet; return where it went."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(exc))
    command = " ".join(sys.argv[1:2])  # the noun only: arguments may hold secrets
    for directory in _crash_dirs():
        path = directory / "cli-errors.log"
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(f"--- {stamp} gitward {command}\n{text}")
            return path
        except OSError:
            continue
    return Path("(nowhere: the log could not be written)")


def _crash_dirs() -> list[Path]:
    ctx = click.get_current_context(silent=True)
    stored = ctx.find_root().meta.get("gitward.overrides", {}) if ctx is not None else {}
    data_dir = stored.get("data_dir") or os.environ.get("GITWARD_DATA_DIR")
    dirs = [Path(data_dir) / "log"] if data_dir and Path(data_dir).is_dir() else []
    return [*dirs, Path(tempfile.gettempdir()) / f"gitward-{os.getuid()}"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
