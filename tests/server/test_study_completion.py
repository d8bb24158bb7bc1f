"""Issue 13, item 3: a study received over the network is read once its instances stop arriving;
a late instance is read again, and changes the draft only while no reader has saved or signed it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom.uid import UID, generate_uid
from sqlalchemy import select

from januscxr.labels import Finding
from januscxr.models.fake import FakeClassifier
from januscxr.models.registry import get_classifier_spec
from januscxr.pacs import Disposition
from januscxr.server import create_app
from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.inference import InferencePool
from januscxr.server.services import DicomIngest
from januscxr.server.settings import Settings
from januscxr.storage import reports, studies
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import AiResult, AuditEvent, Image, Job, Study, User
from januscxr.storage.users import add_user, as_utc
from tests.conftest import DIGITAL_XRAY_STORAGE, cr_dataset
from tests.pacs.conftest import association, free_port, status_of
from tests.server.conftest import PASSWORD, add_users, make_settings, png_bytes

QUIET_S = 0.6
SLOW_POLL_S = 30.0  # far longer than the tests: a worker that reads on time woke because the job came due
READ_TIMEOUT_S = 120.0  # the first read starts the decoder's child process


@dataclass
class Reception:
    """A DICOM receiver (what the listener and the DICOMweb poller call) feeding a worker pool."""

    db: Database
    receiver: DicomIngest
    classifier: FakeClassifier
    write_cr: Callable[..., Path]

    def send(self, study_uid: str) -> int:
        """Store one new instance of ``study_uid``, as the listener does after C-STORE; its image id."""
        path = self.write_cr(StudyInstanceUID=study_uid)
        assert self.receiver.store(path, name=path.name, calling_ae_title="MODALITY").disposition is Disposition.STORED
        with self.db.read() as session:
            image_id = session.scalar(select(Image.id).order_by(Image.id.desc()).limit(1))
        assert image_id is not None
        return image_id

    def study(self, study_uid: str) -> Study:
        with self.db.read() as session:
            study = session.scalars(select(Study).where(Study.study_instance_uid == study_uid)).one()
            session.expunge(study)
            return study

    def results(self, image_id: int) -> list[AiResult]:
        with self.db.read() as session:
            found = list(session.scalars(select(AiResult).where(AiResult.image_id == image_id)))
            session.expunge_all()
            return found

    def wait_for_read(self, image_id: int) -> AiResult:
        deadline = time.monotonic() + READ_TIMEOUT_S
        while not (found := self.results(image_id)):
            assert time.monotonic() < deadline, f"image {image_id} was not read"
            time.sleep(0.05)
        (result,) = found
        return result

    def versions(self, study_id: int) -> list[tuple[str, str]]:
        with self.db.read() as session:
            report_id = reports.report_id_of(session, study_id)
            return [(v.kind, v.findings) for v in reports.list_versions(session, report_id)]

    def late_events(self, study_id: int) -> list[dict[str, object]]:
        with self.db.read() as session:
            query = select(AuditEvent).where(AuditEvent.action == "late_instance", AuditEvent.study_id == study_id)
            return [dict(event.detail) for event in session.scalars(query)]


def _reception(tmp_path: Path, write_cr: Callable[..., Path], quiet_s: float) -> Iterator[Reception]:
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    classifier = FakeClassifier(get_classifier_spec("fake-classifier"))
    pool = InferencePool(db, data_dir, classifier=classifier, poll_s=SLOW_POLL_S)
    pool.start()
    try:
        yield Reception(db, DicomIngest(db, data_dir, submit=pool.submit, study_quiet_s=quiet_s), classifier, write_cr)
    finally:
        pool.shutdown()
        db.dispose()


@pytest.fixture
def reception(tmp_path: Path, write_cr: Callable[..., Path]) -> Iterator[Reception]:
    yield from _reception(tmp_path, write_cr, QUIET_S)


def _seconds(start: datetime, end: datetime) -> float:
    return (as_utc(end) - as_utc(start)).total_seconds()


def _read_study(reception: Reception) -> tuple[str, int, AiResult]:
    """A one-instance study, read; its UID, id and AI result."""
    uid = generate_uid()
    image_id = reception.send(uid)
    return uid, reception.study(uid).id, reception.wait_for_read(image_id)


def test_two_instances_within_the_quiet_period_are_read_once_after_it(reception: Reception) -> None:
    uid = generate_uid()
    first = reception.send(uid)
    time.sleep(QUIET_S / 2)
    second = reception.send(uid)  # the study is still arriving: its first instance waits on
    with reception.db.read() as session:
        jobs = {job.image_id: job.not_before for job in session.scalars(select(Job))}
    assert jobs[first] == jobs[second] and jobs[first] is not None
    assert not reception.results(first)
    results = [reception.wait_for_read(first), reception.wait_for_read(second)]
    study = reception.study(uid)
    assert study.last_received_at is not None and study.ai_ready_at is not None
    for result in results:  # each read once, and none before the study went quiet
        assert _seconds(study.last_received_at, result.created_at) >= QUIET_S
    assert _seconds(study.last_received_at, study.ai_ready_at) >= QUIET_S  # store-to-draft counts the wait
    assert [kind for kind, _ in reception.versions(study.id)] == ["ai_draft"]  # one draft
    assert reception.late_events(study.id) == []


def test_a_late_instance_is_read_and_replaces_a_draft_nobody_edited(reception: Reception) -> None:
    uid, study_id, first = _read_study(reception)
    ready_before = reception.study(uid).ai_ready_at
    reception.classifier.probabilities = {Finding.PLEURAL_EFFUSION: 0.8}  # the late image reads differently
    late = reception.send(uid)
    result = reception.wait_for_read(late)
    assert result.draft_findings != first.draft_findings
    assert reception.versions(study_id) == [
        ("ai_draft", first.draft_findings),
        ("ai_draft", result.draft_findings),
    ]
    with reception.db.read() as session:
        report = reports.get_report(session, study_id)
    assert (report.findings, report.ai_result_id, report.revision) == (result.draft_findings, result.id, 2)
    assert reception.late_events(study_id) == [{"image_id": late, "ai_result_id": result.id, "draft": "replaced"}]
    study = reception.study(uid)
    assert ready_before is not None and study.ai_ready_at is not None and study.last_received_at is not None
    assert _seconds(ready_before, study.ai_ready_at) > 0  # the late instance's read is the new ready time
    assert _seconds(study.last_received_at, study.ai_ready_at) >= QUIET_S
    with reception.db.read() as session:
        (row,) = [r for r in studies.worklist(session, studies.WorklistQuery()) if r.study_id == study_id]
    # the worklist's receipt-to-draft time counts from the late instance, not from the study's first one
    assert row.last_received_at is not None and row.ai_ready_at is not None
    assert _seconds(row.last_received_at, row.ai_ready_at) < _seconds(row.received_at, row.ai_ready_at)


@pytest.mark.parametrize("action", ["save", "sign"])
def test_a_late_instance_after_a_reader_edited_keeps_their_text_and_records_the_ai_result(
    reception: Reception, action: str
) -> None:
    uid, study_id, first = _read_study(reception)
    edited = reports.ReportText("Reader's findings.", "Reader's impression.")
    with reception.db.write() as session:
        user: User = add_user(session, "rad", "not-a-real-hash", "radiologist")
        report = reports.get_report(session, study_id)
        change = reports.save_draft if action == "save" else reports.sign_report
        saved = change(session, report.id, revision=report.revision, text=edited, user=user)
        revision, status = saved.revision, saved.status
    reception.classifier.probabilities = {Finding.PLEURAL_EFFUSION: 0.8}
    late = reception.send(uid)
    result = reception.wait_for_read(late)
    with reception.db.read() as session:
        report = reports.get_report(session, study_id)
    assert (report.findings, report.impression) == (edited.findings, edited.impression)
    assert (report.revision, report.status, report.ai_result_id) == (revision, status, first.id)
    assert [kind for kind, _ in reception.versions(study_id)] == ["ai_draft", "draft" if action == "save" else "signed"]
    flagged = {row["finding"] for row in result.findings if row["flagged"]}
    assert flagged == {Finding.PLEURAL_EFFUSION.value}  # the late read is recorded, beside the reader's text
    assert reception.late_events(study_id) == [{"image_id": late, "ai_result_id": result.id, "draft": "kept_edited"}]


def test_a_quiet_period_of_zero_reads_at_once(tmp_path: Path, write_cr: Callable[..., Path]) -> None:
    for reception in _reception(tmp_path, write_cr, 0.0):
        uid = generate_uid()
        image_id = reception.send(uid)
        with reception.db.read() as session:
            assert session.scalars(select(Job.not_before).where(Job.image_id == image_id)).one() is None
        result = reception.wait_for_read(image_id)
        study = reception.study(uid)
        assert study.last_received_at is not None and result is not None


def test_the_quiet_period_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().study_quiet_s == 10.0
    monkeypatch.setenv("JANUSCXR_STUDY_QUIET_S", "1")
    assert Settings().study_quiet_s == 1.0


@pytest.mark.pacs
def test_instances_sent_to_the_listener_wait_for_their_study_and_uploads_do_not(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, dicom_port=port, study_quiet_s=QUIET_S, job_poll_s=SLOW_POLL_S)
    app = create_app(settings)
    room = app.state.room
    add_users(room)
    uid = generate_uid()
    with (
        TestClient(app) as client,
        association(port, UID(DIGITAL_XRAY_STORAGE)) as assoc,
    ):  # the lifespan starts the listener
        for _ in range(2):
            assert status_of(assoc.send_c_store(cr_dataset(StudyInstanceUID=uid))) == 0x0000
        with room.db.read() as session:
            held = list(session.scalars(select(Job.not_before)))
        assert len(held) == 2 and None not in held
        csrf = client.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        upload = client.post("/api/studies", files=[("files", ("a.png", png_bytes()))], headers={"X-CSRF-Token": csrf})
        assert upload.status_code == 202, upload.text
        with room.db.read() as session:
            assert len(held := list(session.scalars(select(Job.not_before)))) == 3 and None in held  # read at once
        room.pool.wait_idle(timeout_s=READ_TIMEOUT_S)
        with room.db.read() as session:
            study = session.scalars(select(Study).where(Study.study_instance_uid == uid)).one()
            reads = list(session.scalars(select(AiResult.created_at).where(AiResult.study_id == study.id)))
    assert len(reads) == 2 and study.last_received_at is not None
    assert all(_seconds(study.last_received_at, created) >= QUIET_S for created in reads)
