"""Content hashes de-duplicate images; reconciliation lists every row's files; the SQLite file is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from januscxr.storage.database import Database, open_database
from januscxr.storage.studies import StudyAttributes, add_image, add_study, find_received_image, image_files


def _store(db: Database, uid: str, sha: str, name: str = "a.png") -> int:
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(study_instance_uid=uid))
        image = add_image(
            session,
            study,
            sop_instance_uid=f"{uid}.1",
            file_path=f"images/{uid}.png",
            original_name=name,
            content_sha256=sha,
        )
        return image.id


def test_received_images_are_found_by_content_then_by_sop_uid(db: Database) -> None:
    first = _store(db, "1.2.3", "a" * 64)
    with db.read() as session:
        by_content = find_received_image(session, content_sha256="a" * 64, sop_instance_uid="9.9")
        by_uid = find_received_image(session, content_sha256="b" * 64, sop_instance_uid="1.2.3.1")
        assert by_content is not None and by_uid is not None and by_content.id == by_uid.id == first
        assert find_received_image(session, content_sha256="b" * 64, sop_instance_uid="9.9") is None


def test_the_same_content_cannot_be_stored_twice(db: Database) -> None:
    _store(db, "1.2.3", "a" * 64)
    with pytest.raises(IntegrityError):
        _store(db, "1.2.4", "a" * 64)


def test_image_files_lists_paths_names_and_errors(db: Database) -> None:
    image_id = _store(db, "1.2.3", "c" * 64, name="chest.png")
    with db.read() as session:
        assert [tuple(row) for row in image_files(session)] == [(image_id, "images/1.2.3.png", None, "chest.png", None)]


def test_a_new_sqlite_file_and_its_wal_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "januscxr.db"
    database = open_database(f"sqlite:///{path}")
    _store(database, "1.2.3", "d" * 64)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    database.dispose()
    assert modes["januscxr.db"] == 0o600 and modes.get("januscxr.db-wal", 0o600) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
