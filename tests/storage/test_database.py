"""Migrations ship in the package, match the tables, and SQLite runs in WAL mode."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from januscxr.storage.database import Database, migration_config, open_database
from januscxr.storage.tables import Base
from tests.storage.conftest import fresh_postgres, postgres_url


def test_migrations_match_the_tables(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrations_are_recorded_and_reapplied_as_no_ops(db: Database) -> None:
    with db.engine.connect() as connection:
        head = ScriptDirectory.from_config(migration_config()).get_current_head()
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    again = open_database(db.engine.url.render_as_string(hide_password=False))
    again.dispose()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_migrations_ship_inside_the_package() -> None:
    from importlib.resources import files

    versions = files("januscxr.storage") / "migrations" / "versions"
    assert any(p.name.startswith("0001") for p in versions.iterdir())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_starting_together_migrate_one_after_the_other(backend: str, tmp_path: Path) -> None:
    # `serve` and several `januscxr worker` processes each open (and migrate) the same new database.
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = postgres_url()
        fresh_postgres(url)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.map(_open_and_close, [url] * 4)
    assert results == ["ok"] * 4
    db = open_database(url)
    with db.read() as session:
        head = ScriptDirectory.from_config(migration_config()).get_current_head()
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    db.dispose()


def _open_and_close(url: str) -> str:
    open_database(url).dispose()
    return "ok"
