"""The DICOMweb poller against a real Orthanc (DICOMweb plugin, authentication on) on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom.uid import CTImageStorage
from sqlalchemy import func, select

from januscxr.models.fake import FakeClassifier
from januscxr.models.registry import get_classifier_spec
from januscxr.pacs import Disposition, StoreResult
from januscxr.pacs.dicomweb import DicomwebConfig, DicomwebPoller
from januscxr.server import create_app
from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.inference import InferencePool
from januscxr.server.services import DicomIngest
from januscxr.storage import dicomweb
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import AiResult, AuditEvent, DicomwebStudy, Image, Study
from tests.conftest import cr_dataset
from tests.pacs.conftest import free_port, write_file
from tests.pacs.orthanc import OrthancServer, run_orthanc
from tests.server.conftest import PASSWORD, add_users, make_settings
from tests.storage.conftest import fresh_postgres, postgres_url

pytestmark = pytest.mark.pacs
TODAY = f"{date.today():%Y%m%d}"


@dataclass
class RecordingReceiver:
    """Keeps the SOP Instance UIDs it was given, in order, and the skip reasons."""

    stored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def store(self, path: Path, *, name: str, calling_ae_title: str) -> StoreResult:
        assert calling_ae_title == "orthanc" and path.stat().st_size > 0
        self.stored.append(name.removesuffix(".dcm"))
        return StoreResult(Disposition.STORED)

    def skip(self, *, calling_ae_title: str, reason: str) -> None:
        self.skipped.append(reason)


@dataclass
class CountingIngest:
    """The reading room's ingest, keeping the SOP Instance UID of every instance handed to it (each one downloaded)."""

    ingest: DicomIngest
    handed: list[str] = field(default_factory=list)

    def store(self, path: Path, *, name: str, calling_ae_title: str) -> StoreResult:
        self.handed.append(name.removesuffix(".dcm"))
        return self.ingest.store(path, name=name, calling_ae_title=calling_ae_title)

    def skip(self, *, calling_ae_title: str, reason: str) -> None:
        self.ingest.skip(calling_ae_title=calling_ae_title, reason=reason)


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[OrthancServer]:
    with run_orthanc(tmp_path / "orthanc") as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'januscxr.db'}")
    yield database
    database.dispose()


def _upload(orthanc: OrthancServer, folder: Path, **attributes: object) -> str:
    """Store one CR study (one instance) of today in Orthanc; its SOP Instance UID."""
    dataset = cr_dataset(StudyDate=TODAY, **({"AccessionNumber": "ACC-WEB-1"} | attributes))
    orthanc.upload(write_file(dataset, folder / f"{dataset.SOPInstanceUID}.dcm"))
    return str(dataset.SOPInstanceUID)


def _config(orthanc: OrthancServer, **overrides: object) -> DicomwebConfig:
    values: dict[str, object] = {
        "url": orthanc.dicomweb_url,
        "name": "orthanc",
        "username": orthanc.username,
        "password": orthanc.password,
        "poll_s": 0.2,
        "timeout_s": 5.0,
    }
    return DicomwebConfig(**(values | overrides))  # type: ignore[arg-type]


def _poller(
    orthanc: OrthancServer, db: Database, receiver: RecordingReceiver, tmp_path: Path, **config: object
) -> DicomwebPoller:
    return DicomwebPoller(_config(orthanc, **config), receiver, db, staging_dir=tmp_path / "staging")


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s")
        time.sleep(0.1)


def test_a_study_stored_in_orthanc_is_found_retrieved_and_read(orthanc: OrthancServer, tmp_path: Path) -> None:
    _upload(orthanc, tmp_path)
    settings = make_settings(
        tmp_path,
        dicomweb_url=orthanc.dicomweb_url,
        dicomweb_name="orthanc",
        dicomweb_username=orthanc.username,
        dicomweb_password=orthanc.password,
        dicomweb_poll_s=0.2,
        study_quiet_s=0,
    )
    app = create_app(settings)
    add_users(app.state.room)
    with TestClient(app) as client:  # the lifespan starts (and stops) the poller
        assert client.post("/api/session", json={"username": "rad", "password": PASSWORD}).status_code == 200

        def read() -> bool:
            items = client.get("/api/worklist").json()
            return bool(items) and items[0]["ai_status"] == "done"

        _wait_for(read)
        [item] = client.get("/api/worklist").json()
    assert (item["accession_number"], item["source"]) == ("ACC-WEB-1", "dicomweb:orthanc")


def test_only_chest_radiograph_series_are_retrieved(orthanc: OrthancServer, db: Database, tmp_path: Path) -> None:
    chest = _upload(orthanc, tmp_path)
    dx = _upload(orthanc, tmp_path, Modality="DX")
    ct = cr_dataset(StudyDate=TODAY, Modality="CT", SOPClassUID=CTImageStorage)
    ct.file_meta.MediaStorageSOPClassUID = CTImageStorage
    orthanc.upload(write_file(ct, tmp_path / "ct.dcm"))
    _upload(orthanc, tmp_path, BodyPartExamined="KNEE")
    receiver = RecordingReceiver()
    result = _poller(orthanc, db, receiver, tmp_path).poll_once()
    assert sorted(receiver.stored) == sorted([chest, dx]) and receiver.skipped == []
    assert (result.found, result.retrieved, result.instances, result.error) == (3, 3, 2, None)  # the CT is not found
    with db.read() as session:
        uids = set(session.scalars(select(DicomwebStudy.study_instance_uid)))
    assert str(ct.StudyInstanceUID) not in uids


def test_a_restarted_poller_retrieves_nothing_twice(orthanc: OrthancServer, db: Database, tmp_path: Path) -> None:
    first = _upload(orthanc, tmp_path)
    receiver = RecordingReceiver()
    assert _poller(orthanc, db, receiver, tmp_path).poll_once().retrieved == 1
    second = _upload(orthanc, tmp_path)
    restarted = _poller(orthanc, db, receiver, tmp_path)  # a new process would start just so: state from the database
    assert restarted.poll_once().retrieved == 1
    assert restarted.poll_once().retrieved == 0
    assert receiver.stored == [first, second]


@pytest.mark.parametrize("problem", ["wrong password", "unreachable"])
def test_a_failing_server_is_retried_with_backoff_and_shown_on_the_admin_page(
    orthanc: OrthancServer, tmp_path: Path, problem: str
) -> None:
    _upload(orthanc, tmp_path)
    url = orthanc.dicomweb_url if problem == "wrong password" else f"http://127.0.0.1:{free_port()}/dicom-web"
    settings = make_settings(
        tmp_path,
        dicomweb_url=url,
        dicomweb_name="orthanc",
        dicomweb_username=orthanc.username,
        dicomweb_password="not-the-password",
        dicomweb_poll_s=0.1,
    )
    app = create_app(settings)
    add_users(app.state.room)
    db: Database = app.state.room.db
    with TestClient(app) as client:

        def failures() -> int:
            with db.read() as session:
                statuses = dicomweb.server_statuses(session)
            return next((status.failures for status in statuses if status.name == "orthanc"), 0)

        _wait_for(lambda: failures() >= 3)
        with db.write() as session:  # a study whose own retrieval failed on its last attempt
            dicomweb.note_studies(session, "other", [dicomweb.FoundStudy("1.2.3.999", TODAY)])
            claim = dicomweb.claim_study(session, "other", "test", max_attempts=1)
            assert claim is not None
            dicomweb.fail_study(session, claim, "retrieval failed: HTTP 404 Not Found", retry_in_s=0, max_attempts=1)
        assert client.post("/api/session", json={"username": "admin", "password": PASSWORD}).status_code == 200
        page = client.get("/admin", headers={"accept": "text/html"}).text
        assert client.get("/api/worklist").status_code == 200  # the reading room goes on
    with db.read() as session:
        status = next(status for status in dicomweb.server_statuses(session) if status.name == "orthanc")
    assert status.last_success_at is None and status.next_poll_at is not None and status.last_error_at is not None
    wait_s = (status.next_poll_at - status.last_error_at).total_seconds()
    assert wait_s == pytest.approx(0.1 * 2**status.failures, rel=0.05)  # doubled on each failure
    expected = "HTTP 401 Unauthorized" if problem == "wrong password" else "cannot connect"
    assert expected in (status.last_error or "")
    assert 'id="dicomweb-servers"' in page and "dicomweb:orthanc" in page and expected in page
    assert 'id="dicomweb-set-aside"' in page and "1.2.3.999" in page and "HTTP 404 Not Found" in page
    assert "not-the-password" not in page and orthanc.password not in page


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_poller_processes_retrieve_and_read_each_study_once(
    orthanc: OrthancServer, tmp_path: Path, backend: str
) -> None:
    januscxr = shutil.which("januscxr") or pytest.skip("the januscxr console script is not installed")
    if backend == "postgres":
        url = postgres_url()
        fresh_postgres(url)
    else:
        url = f"sqlite:///{(tmp_path / 'data' / 'januscxr.db').resolve()}"
    sent = {_upload(orthanc, tmp_path, AccessionNumber=f"ACC-{n}") for n in range(6)}
    environment = os.environ | {
        "JANUSCXR_DICOMWEB_USERNAME": orthanc.username,
        "JANUSCXR_DICOMWEB_PASSWORD": orthanc.password,
        "JANUSCXR_DATABASE_URL": url,
    }
    command = [januscxr, "dicom", "poll", "--once", "--url", orthanc.dicomweb_url, "--name", "orthanc"]
    command += ["--data-dir", str(tmp_path / "data")]
    pollers = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [poller.communicate(timeout=120)[0] for poller in pollers]
    assert [poller.returncode for poller in pollers] == [0, 0], outputs
    retrieved = [int(output.split(" retrieved")[0].rsplit(" ", 1)[-1]) for output in outputs]
    assert sum(retrieved) == 6, outputs  # each study retrieved by one process only
    assert all(", 0 requeued, " in output for output in outputs), outputs  # no study grew after retrieval

    app = create_app(make_settings(tmp_path, database_url=url, study_quiet_s=0))  # reads what the pollers stored
    with TestClient(app):
        app.state.room.pool.wait_idle()
        db: Database = app.state.room.db
        with db.read() as session:
            images = set(session.scalars(select(Image.sop_instance_uid)))
            ingests = session.scalar(select(func.count()).where(AuditEvent.action == "ingest"))
            results = session.scalar(select(func.count()).select_from(AiResult))
    assert images == sent and ingests == 6 and results == 6


def test_an_instance_added_to_a_retrieved_study_is_retrieved_alone_and_read(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    pool = InferencePool(db, data_dir, classifier=FakeClassifier(get_classifier_spec("fake-classifier")), poll_s=30.0)
    pool.start()
    try:
        receiver = CountingIngest(DicomIngest(db, data_dir, submit=pool.submit, study_quiet_s=0, origin="dicomweb"))
        poller = DicomwebPoller(_config(orthanc), receiver, db, staging_dir=tmp_path / "staging")
        first = cr_dataset(StudyDate=TODAY)
        orthanc.upload(write_file(first, tmp_path / "first.dcm"))
        assert (poller.poll_once().retrieved, receiver.handed) == (1, [str(first.SOPInstanceUID)])

        def read(count: int) -> bool:
            with db.read() as session:
                return session.scalar(select(func.count()).select_from(AiResult)) == count

        _wait_for(lambda: read(1), timeout_s=120.0)  # the first read starts the decoder process
        same = ("StudyInstanceUID", "SeriesInstanceUID", "PatientID", "PatientName")
        late = cr_dataset(StudyDate=TODAY, **{key: first.get(key) for key in same if key in first})  # a repeat view
        orthanc.upload(write_file(late, tmp_path / "late.dcm"))
        result = poller.poll_once()
        assert (result.found, result.new, result.requeued, result.retrieved, result.instances) == (1, 0, 1, 1, 1)
        assert receiver.handed == [str(first.SOPInstanceUID), str(late.SOPInstanceUID)]  # nothing downloaded twice
        _wait_for(lambda: read(2), timeout_s=60.0)
        again = poller.poll_once()
        assert (again.requeued, again.retrieved, len(receiver.handed)) == (0, 0, 2)
        with db.read() as session:
            study = session.scalars(select(Study).where(Study.study_instance_uid == str(first.StudyInstanceUID))).one()
            images = set(session.scalars(select(Image.sop_instance_uid).where(Image.study_id == study.id)))
            late_reads = session.scalar(select(func.count()).where(AuditEvent.action == "late_instance"))
            row = session.scalars(select(DicomwebStudy)).one()
        assert images == {str(first.SOPInstanceUID), str(late.SOPInstanceUID)} and study.n_images == 2
        assert late_reads == 1  # read as a late instance of the study (study completion), not as a new study
        assert (row.state, row.instances, row.number_of_study_related_instances) == ("done", 2, 2)
    finally:
        pool.shutdown()
        db.dispose()
