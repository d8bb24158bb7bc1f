"""A migrated database per test: SQLite always, PostgreSQL where JANUSCXR_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from januscxr.labels import Finding
from januscxr.storage.database import Database, open_database
from januscxr.storage.studies import StudyAttributes, add_image, add_study
from januscxr.storage.tables import Image, Study, User
from januscxr.storage.users import add_user
from januscxr.types import DraftReport, FindingResult, Prediction

POSTGRES_ENV = "JANUSCXR_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The test server's URL; skipped where unset, a failure in CI (which starts one)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set; .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"{POSTGRES_ENV} not set")
    return url


def fresh_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'januscxr.db'}"
    else:
        url = postgres_url()
        fresh_postgres(url)
    database = open_database(url)
    yield database
    database.dispose()


def make_users(db: Database) -> dict[str, User]:
    with db.write() as session:
        return {
            name: add_user(session, name, "not-a-real-hash", role)
            for name, role in [("rad", "radiologist"), ("rad2", "radiologist"), ("res", "resident"), ("admin", "admin")]
        }


def make_study(db: Database, uid: str = "1.2.3.4") -> tuple[Study, Image]:
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(study_instance_uid=uid, patient_name="Doe^Jane"))
        image = add_image(session, study, sop_instance_uid=f"{uid}.1", file_path="images/x.dcm")
        return study, image


def prediction(
    probabilities: dict[Finding, float], threshold: float = 0.5, urgent_threshold: float | None = 0.75
) -> Prediction:
    """Fake results at two operating points: flagged from ``threshold``, urgent from ``urgent_threshold``."""
    findings = {f: FindingResult(f, p, threshold, urgent_threshold=urgent_threshold) for f, p in probabilities.items()}
    return Prediction(findings, "fake-classifier", "0")


DRAFT = DraftReport(findings="There is a right pneumothorax.", impression="Right pneumothorax.", reporter="test")
