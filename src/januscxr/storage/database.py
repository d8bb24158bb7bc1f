"""Engines, sessions and migrations: SQLite (WAL) by default, PostgreSQL by URL.

Migrations ship inside the package (``januscxr/storage/migrations``) and are applied by
:func:`open_database`. On SQLite, write transactions begin IMMEDIATE so that two writers
queue on the lock instead of failing on a stale snapshot.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0


class Database:
    """An engine with two session factories: ``read()`` and ``write()`` (one transaction each)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer, expire_on_commit=False)
        # SQLite has one writer at a time; threads of this process queue here, in order, rather
        # than in SQLite's busy handler, which sleeps in steps of up to 100 ms.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; rolled back at the end."""
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits at the end, or rolls back on an error."""
        if self._write_lock is None:
            with self._write() as session, session.begin():
                yield session
            return
        with self._write_lock, self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def create_database_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **options)
    if parsed.database and parsed.database != ":memory:":
        _create_private(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}, **options)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 (its folder 0700 when new) before SQLite opens it.

    SQLite gives its -wal and -shm files the database file's mode, so they are private too;
    files an earlier version made 0644 are tightened here.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for companion in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        if companion.exists():
            companion.chmod(0o600)


def _configure_sqlite(dbapi_connection: Any, record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def migration_config() -> Config:
    """Alembic's configuration, pointing at the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", str(files("januscxr.storage") / "migrations"))
    return config


# Any fixed number: PostgreSQL's advisory lock that serialises januscxr's migrations.
_MIGRATION_LOCK = 7_411_203_118


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (all shipped migrations by default).

    Processes that start together (``serve`` and several ``worker``) take turns: on PostgreSQL
    under a transaction-scoped advisory lock, on SQLite under its write lock (BEGIN IMMEDIATE).
    """
    config = migration_config()
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def open_database(url: str, **options: Any) -> Database:
    """Connect, apply the shipped migrations and return the :class:`Database`.

    Parameters
    ----------
    url
        ``sqlite:///path/januscxr.db`` or ``postgresql+psycopg://user:pass@host/db``.
    """
    engine = create_database_engine(url, **options)
    migrate(engine)
    logger.info("database ready (%s)", engine.dialect.name)
    return Database(engine)
