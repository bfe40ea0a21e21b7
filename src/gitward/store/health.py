"""What a readiness probe asks the database: is it there, and is its schema current?"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gitward.store.db import HEAD_REVISION, StoreUnavailable, current_revision


def schema_revision(engine: Engine) -> str | None:
    """The schema's migration revision (None: never migrated), asked of the database now.
    Raises ``StoreUnavailable`` when the database does not answer."""
    try:
        return current_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            "the database is not reachable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc


def head_revision() -> str:
    """The revision this build of Gitward expects."""
    return HEAD_REVISION
