"""What every use-case needs: the store, the settings, a clock, and who is acting."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gitward.settings import Settings
from gitward.store.db import Engine, Session, open_store
from gitward.store.queries import audit

# An authorization check a service runs first thing in its own transaction (services/actor.py
# makes them); it raises to refuse, so the check and the change see the same data.
Check = Callable[[Session], None]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Context:
    engine: Engine
    settings: Settings
    actor: str = "cli"
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    def now(self) -> dt.datetime:
        return self.clock()

    def audit(
        self,
        session: Session,
        action: str,
        target: str,
        *,
        outcome: str = "ok",
        peer: str | None = None,
        actor: str | None = None,
        **detail: Any,
    ) -> None:
        audit.append_event(
            session,
            at=self.now(),
            actor=actor or self.actor,
            action=action,
            target=target,
            outcome=outcome,
            peer=peer,
            detail=detail,
        )


def open_context(settings: Settings, *, actor: str = "cli") -> Context:
    """Open the store (applying migrations) and make sure the data directory exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.repos_dir.mkdir(parents=True, exist_ok=True)
    return Context(
        engine=open_store(settings.resolved_database_url), settings=settings, actor=actor
    )


@contextlib.contextmanager
def undo_on_failure() -> Iterator[list[Callable[[], None]]]:
    """Collect undo actions for work outside the database (the disk); run them, newest
    first, if anything in the block fails, the transaction's commit included."""
    undo: list[Callable[[], None]] = []
    try:
        yield undo
    except BaseException:
        for action in reversed(undo):
            action()
        raise
