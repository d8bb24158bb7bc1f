"""Reading sessions: one per (study, reader, mode), never reused across modes; the study mode's reads."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from januscxr.errors import NotFoundError, ReportStateError, StorageError
from januscxr.storage import reading, reports
from januscxr.storage.database import Database
from januscxr.storage.tables import ReadingSession
from tests.storage.conftest import make_study, make_users

TEXT = reports.ReportText("Clear lungs.", "Normal.")


def test_each_mode_has_its_own_session_and_clock(db: Database) -> None:
    users = make_users(db)
    study, _ = make_study(db)
    with db.write() as session:
        clinical = reading.open_reading(session, study, users["rad"], study_mode=False)
        trial = reading.open_reading(session, study, users["rad"], study_mode=True, arm="standard")
        assert clinical.id != trial.id and (clinical.arm, trial.arm) == (None, "standard")
        again = reading.open_reading(session, study, users["rad"], study_mode=True, arm="standard")
        assert again.id == trial.id
        reading.add_active_time(session, study.id, users["rad"], study_mode=False, active_ms=5000)
        reading.add_active_time(session, study.id, users["rad"], study_mode=True, active_ms=42000)
        reading.close_reading(session, study.id, users["rad"], study_mode=False)
        reading.add_active_time(session, study.id, users["rad"], study_mode=True, active_ms=1000)
    with db.read() as session:
        clinical_row = reading.get_reading(session, study.id, users["rad"], study_mode=False)
        trial_row = reading.get_reading(session, study.id, users["rad"], study_mode=True)
        assert clinical_row is not None and trial_row is not None
        assert (clinical_row.active_ms, clinical_row.signed_at is not None) == (5000, True)
        assert (trial_row.active_ms, trial_row.signed_at) == (43000, None)  # the clinical signature left it open
        assert reading.get_reading(session, study.id, users["rad2"], study_mode=True) is None


@pytest.mark.parametrize(("study_mode", "arm"), [(True, None), (False, "standard")])
def test_a_study_mode_session_always_has_an_arm_and_a_clinical_one_none(
    db: Database, study_mode: bool, arm: str | None
) -> None:
    users = make_users(db)
    study, _ = make_study(db)
    with pytest.raises(StorageError, match="expected an arm in study mode and none outside it"), db.write() as session:
        reading.open_reading(session, study, users["rad"], study_mode=study_mode, arm=arm)


def _sign_study_mode_read(db: Database, study, user, *, arm: str = "ai_assisted", active_ms: int = 30000) -> int:  # type: ignore[no-untyped-def]
    """A reader's whole study-mode read: session, own report, time, signature."""
    with db.write() as session:
        row = reading.open_reading(session, study, user, study_mode=True, arm=arm)
        report = reports.ensure_report(session, study, reader_key=user.id)
        reading.add_active_time(session, study.id, user, study_mode=True, active_ms=active_ms)
        reports.sign_report(session, report.id, revision=report.revision, text=TEXT, user=user)
        reading.close_reading(session, study.id, user, study_mode=True)
        return row.id


def test_study_reads_list_every_signed_study_mode_report_and_why_one_is_left_out(db: Database) -> None:
    users = make_users(db)
    study, _ = make_study(db, "1.2.3.4")
    other, _ = make_study(db, "1.2.3.5")
    good = _sign_study_mode_read(db, study, users["rad"])
    legacy = _sign_study_mode_read(db, study, users["rad2"], arm="standard")
    unsigned = _sign_study_mode_read(db, other, users["rad"])
    clinical_only = _sign_study_mode_read(db, other, users["res"])
    with db.write() as session:
        # As migration 0003 left a read whose clinical session was reused in study mode: no arm, clinical.
        session.execute(update(ReadingSession).where(ReadingSession.id == legacy).values(study_mode=False, arm=None))
        session.execute(update(ReadingSession).where(ReadingSession.id == unsigned).values(signed_at=None))
        session.execute(update(ReadingSession).where(ReadingSession.id == clinical_only).values(arm=None))
        # A signed study-mode session whose report is a draft (a clinical signature once closed shared sessions).
        reading.open_reading(session, study, users["res"], study_mode=True, arm="standard")
        reading.close_reading(session, study.id, users["res"], study_mode=True)
    with db.read() as session:
        reads = {(r.case_id, r.reader_id): r for r in reading.study_reads(session)}
    assert len(reads) == 5
    assert reads["1.2.3.4", "rad"].in_export and reads["1.2.3.4", "rad"].reading_id == good
    assert (reads["1.2.3.4", "rad"].arm, reads["1.2.3.4", "rad"].reading_time_s) == ("ai_assisted", 30.0)
    assert (
        reads["1.2.3.4", "rad2"].missing is not None
        and "no study-mode reading session" in reads["1.2.3.4", "rad2"].missing
    )
    assert reads["1.2.3.4", "rad2"].reading_id is None and reads["1.2.3.4", "rad2"].report_id is not None
    assert reads["1.2.3.5", "rad"].missing == f"reading session {unsigned} has no signed time"
    assert reads["1.2.3.5", "res"].missing == f"reading session {clinical_only} has no arm"
    assert reads["1.2.3.4", "res"].missing == "the reader's study-mode report is not signed"


def test_scores_go_only_to_signed_study_mode_reads(db: Database) -> None:
    users = make_users(db)
    study, _ = make_study(db)
    read_id = _sign_study_mode_read(db, study, users["rad"])
    with db.write() as session:
        clinical = reading.open_reading(session, study, users["rad"], study_mode=False)
        open_read = reading.open_reading(session, study, users["rad2"], study_mode=True, arm="standard")
    with pytest.raises(NotFoundError, match=f"no study-mode read with id {clinical.id}"), db.write() as session:
        reading.rate_read(session, clinical.id, quality_score=4, agreement_score=4.5)
    with pytest.raises(ReportStateError, match="not signed yet"), db.write() as session:
        reading.rate_read(session, open_read.id, quality_score=4, agreement_score=4.5)
    with db.write() as session:
        reading.rate_read(session, read_id, quality_score=4, agreement_score=4.5)
        reading.set_case_reference(session, study.id, expert_preference="standard", n_findings=2)
    with db.read() as session:
        (read,) = reading.study_reads(session)
        scored = session.scalar(select(ReadingSession).where(ReadingSession.id == read_id))
    assert scored is not None and (scored.quality_score, scored.agreement_score) == (4, 4.5)
    assert (read.quality_score, read.agreement_score, read.expert_preference, read.n_findings) == (
        4,
        4.5,
        "standard",
        2,
    )
