"""Issue 13, item 6: a study's source and AI ready time; the same patient's earlier studies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from januscxr.labels import Finding
from januscxr.storage import reports
from januscxr.storage.database import Database
from januscxr.storage.studies import (
    StudyAttributes,
    WorklistQuery,
    add_image,
    add_study,
    earlier_studies,
    get_study,
    record_ai_failure,
    record_ai_result,
    worklist,
)
from januscxr.storage.tables import AiStatus, Image, ReportStatus, Study, User
from tests.storage.conftest import DRAFT, make_study, make_users, prediction

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_source_and_study_time_are_kept_and_on_the_worklist(db: Database) -> None:
    with db.write() as session:
        attributes = StudyAttributes(study_instance_uid="1.9", study_time="140512.25", source="dicom:PACS1")
        add_study(session, attributes)
        again, created = add_study(session, StudyAttributes(study_instance_uid="1.9", source="upload"))
        assert not created and again.source == "dicom:PACS1"  # the first arrival is where it came from
    with db.read() as session:
        [row] = worklist(session, WorklistQuery())
    assert (row.source, row.study_time, row.ai_ready_at) == ("dicom:PACS1", "140512.25", None)


def test_ai_ready_at_is_set_by_the_first_result_only(db: Database) -> None:
    study, image = make_study(db)
    with db.write() as session:
        second = add_image(session, get_study(session, study.id), sop_instance_uid="1.2.3.4.2", file_path="images/y")
    with db.write() as session:
        before = datetime.now(UTC)
        record_ai_result(session, session.get_one(Image, image.id), prediction({Finding.EDEMA: 0.1}), DRAFT)
    with db.read() as session:
        first = session.get_one(Study, study.id).ai_ready_at
    assert first is not None and _utc(first) >= before - timedelta(seconds=1)
    with db.write() as session:
        record_ai_result(session, session.get_one(Image, second.id), prediction({Finding.EDEMA: 0.9}), DRAFT)
    with db.read() as session:
        assert session.get_one(Study, study.id).ai_ready_at == first


def test_ai_ready_at_is_set_when_the_ai_fails_or_refuses(db: Database) -> None:
    for uid, status in (("1.5", AiStatus.FAILED), ("1.6", AiStatus.REFUSED)):
        study, image = make_study(db, uid)
        with db.read() as session:
            assert session.get_one(Study, study.id).ai_ready_at is None
        with db.write() as session:
            record_ai_failure(session, session.get_one(Image, image.id), "unreadable", status=status)
        with db.read() as session:
            assert session.get_one(Study, study.id).ai_ready_at is not None


def _add(db: Database, uid: str, patient_id: str | None, received: datetime, description: str = "CHEST") -> int:
    with db.write() as session:
        attributes = StudyAttributes(study_instance_uid=uid, patient_id=patient_id, study_description=description)
        study, _ = add_study(session, attributes)
        study.received_at = received
        return study.id


def _report(db: Database, study_id: int, impression: str, *, user: User, reader_key: int = reports.CLINICAL) -> None:
    with db.write() as session:
        report = reports.ensure_report(session, session.get_one(Study, study_id), reader_key=reader_key)
        text = reports.ReportText("Findings.", impression)
        reports.sign_report(session, report.id, revision=report.revision, text=text, user=user)


def test_earlier_studies_of_the_same_patient_newest_first_with_final_impressions(db: Database) -> None:
    users = make_users(db)
    current = _add(db, "2.0", "MRN-1", T0)
    signed = _add(db, "2.1", "MRN-1", T0 - timedelta(days=30), "CHEST PA")
    preliminary = _add(db, "2.2", "MRN-1", T0 - timedelta(days=10))
    draft = _add(db, "2.3", "MRN-1", T0 - timedelta(days=20))
    readers_own = _add(db, "2.4", "MRN-1", T0 - timedelta(days=40))
    _add(db, "2.5", "MRN-2", T0 - timedelta(days=5))  # another patient
    _add(db, "2.6", "MRN-1", T0 + timedelta(days=1))  # received after the current one
    amended = _add(db, "2.7", "MRN-1", T0 - timedelta(days=50))
    _report(db, signed, "No <acute> disease.", user=users["rad"])
    _report(db, amended, "Small effusion.", user=users["rad"])
    with db.write() as session:
        report_id = reports.report_id_of(session, amended)
        reports.add_addendum(session, report_id, text="Addendum.", user=users["rad"])
    _report(db, preliminary, "Resident's impression.", user=users["res"])
    _report(db, readers_own, "A study-mode reader's own report.", user=users["rad"], reader_key=users["rad"].id)
    with db.read() as session:
        found = earlier_studies(session, session.get_one(Study, current))
    assert [e.study_id for e in found] == [preliminary, draft, signed, readers_own, amended]
    by_id = {e.study_id: e for e in found}
    assert by_id[signed].impression == "No <acute> disease."
    assert by_id[signed].report_status == ReportStatus.SIGNED.value
    assert by_id[signed].study_description == "CHEST PA"
    assert (by_id[amended].report_status, by_id[amended].impression) == ("amended", "Small effusion.")
    assert by_id[preliminary].report_status == ReportStatus.PRELIMINARY.value
    assert by_id[preliminary].impression is None  # not final: no text
    assert by_id[draft].impression is None and by_id[readers_own].impression is None


def test_earlier_studies_are_capped_and_none_without_a_patient_id(db: Database) -> None:
    current = _add(db, "3.0", "MRN-9", T0)
    ids = [_add(db, f"3.{n}", "MRN-9", T0 - timedelta(hours=n)) for n in range(1, 13)]
    no_id = _add(db, "4.0", None, T0)
    _add(db, "4.1", None, T0 - timedelta(days=1))
    blank = _add(db, "4.2", "", T0)
    _add(db, "4.3", "", T0 - timedelta(days=1))
    with db.read() as session:
        assert [e.study_id for e in earlier_studies(session, session.get_one(Study, current))] == ids[:10]
        assert [e.study_id for e in earlier_studies(session, session.get_one(Study, current), limit=3)] == ids[:3]
        assert earlier_studies(session, session.get_one(Study, no_id)) == []
        assert earlier_studies(session, session.get_one(Study, blank)) == []


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
