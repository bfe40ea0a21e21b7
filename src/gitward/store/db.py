"""Engines, transactions and migrations.

Services own transactions: ``with transaction(engine) as session: ...`` commits on success
and rolls back on any exception, so a failed command leaves nothing half-written. Store
query functions take the session as their first argument and never commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gitward.errors import AlreadyExists, ConfigurationError, GitwardError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test checks they agree). Knowing it lets a
# start-up skip loading Alembic, the slowest import of a CLI command, when nothing is due.
HEAD_REVISION = "0004"
# Any constant works; it only has to be the same in every Gitward process.
_MIGRATION_LOCK_ID = 0x6769_7477


class StoreUnavailable(GitwardError):
    """The database could not be reached or answered with an error."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        # 20 pooled connections: the HTTP API's thread pool runs up to 40 requests, and a
        # connection over the pool size is closed when returned (a new PostgreSQL backend
        # for every request under load, otherwise).
        engine = create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise ConfigurationError(
            "the database URL is not usable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    try:
        if current_revision(engine) == HEAD_REVISION:
            return
        from alembic import command

        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Serialise concurrent upgrades from several frontends sharing one database.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                )
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreUnavailable(
            "the database is not reachable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def open_store(url: str) -> Engine:
    """Engine + migrations applied: what every entry point calls first."""
    engine = make_engine(url)
    migrate(engine)
    return engine


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    Constraint violations surface as ``AlreadyExists`` (SQLite's and PostgreSQL's folded into
    one), other database errors as ``StoreUnavailable``; Gitward's own errors pass unchanged.
    """
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise AlreadyExists("already exists", cause=str(exc.orig)) from exc
    except OperationalError as exc:
        session.rollback()
        raise StoreUnavailable(
            "the database is not reachable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextlib.contextmanager
def core_transaction(engine: Engine) -> Iterator[Connection]:
    """A Core connection in one transaction (no ORM session): what the issuing hot path
    uses. Commits on success; errors are mapped as ``transaction`` maps them."""
    try:
        with engine.begin() as connection:
            yield connection
    except IntegrityError as exc:
        raise AlreadyExists("already exists", cause=str(exc.orig)) from exc
    except OperationalError as exc:
        raise StoreUnavailable(
            "the database is not reachable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc


@contextlib.contextmanager
def core_read(engine: Engine) -> Iterator[Connection]:
    """A Core connection for one read statement, in autocommit mode: no BEGIN and no
    ROLLBACK round trips around it on PostgreSQL (one statement sees one snapshot)."""
    try:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection
    except OperationalError as exc:
        raise StoreUnavailable(
            "the database is not reachable", cause=f"{type(exc).__name__}: {exc}"
        ) from exc


__all__ = [
    "Connection",
    "Engine",
    "Session",
    "StoreUnavailable",
    "core_read",
    "core_transaction",
    "make_engine",
    "migrate",
    "open_store",
    "transaction",
]
