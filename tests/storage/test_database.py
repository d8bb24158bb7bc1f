"""Migrations ship in the package, match the tables, and SQLite runs in WAL mode."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from januscxr.storage.database import Database, migration_config, open_database
from januscxr.storage.tables import Base


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
