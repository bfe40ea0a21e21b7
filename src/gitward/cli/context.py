"""Settings flags shared by every command that touches the store.

``--data-dir``, ``--database-url``, ``--hostname`` and ``--config`` are accepted both before
the command (``gitward --data-dir X user list``) and after it (``gitward user list
--data-dir X``); the later one wins.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gitward.errors import InvalidInput
from gitward.services.context import Context, open_context
from gitward.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "gitward.overrides"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and param.name is not None:
        ctx.find_root().meta.setdefault(_KEY, {})[param.name] = value
    return value


def settings_options(func: F) -> F:
    """Add the settings flags to a command or group."""
    options = [
        click.option(
            "--config",
            type=click.Path(path_type=Path, dir_okay=False),
            expose_value=False,
            callback=_remember,
            help="TOML settings file.",
        ),
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path, file_okay=False),
            expose_value=False,
            callback=_remember,
            help="Data directory [GITWARD_DATA_DIR, default ./var].",
        ),
        click.option(
            "--database-url",
            expose_value=False,
            callback=_remember,
            help="SQLAlchemy URL [GITWARD_DATABASE_URL, default SQLite in the data dir].",
        ),
        click.option(
            "--hostname",
            expose_value=False,
            callback=_remember,
            help="Host name in clone URLs and login@ extensions [GITWARD_HOSTNAME].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def flag_overrides(extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], Path | None]:
    stored = dict(click.get_current_context().find_root().meta.get(_KEY, {}))
    config = stored.pop("config", None)
    stored.update({k: v for k, v in (extra or {}).items() if v is not None})
    return stored, config


def service_context(extra: dict[str, Any] | None = None) -> Context:
    """Settings from every source, the store opened and migrated."""
    overrides, config = flag_overrides(extra)
    ctx = open_context(load_settings(overrides, config_file=config))
    # Close the pool when the command ends (it matters when commands run in-process).
    click.get_current_context().call_on_close(ctx.engine.dispose)
    return ctx


def read_input(path: str) -> bytes:
    """The bytes of PATH, or standard input for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
