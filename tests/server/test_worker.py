"""Worker processes on the durable job queue: kill -9 mid-read, restart, two at once; the admin page."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.failures import INTERNAL
from januscxr.server.inference import InferencePool
from januscxr.server.ingest import ingest_file
from januscxr.storage.database import Database, open_database
from januscxr.storage.jobs import claim_job, count_active_jobs, enqueue_job
from januscxr.storage.studies import get_image
from januscxr.storage.tables import AiResult, Job, JobState, Study
from tests.server.broken_decoder import read_brokenly
from tests.server.conftest import Reader, png_bytes
from tests.server.slow_decoder import SLOW_WIDTH_PX
from tests.storage.conftest import fresh_postgres, postgres_url

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    "JANUSCXR_CLASSIFIER": "fake-classifier",
    "JANUSCXR_JOB_POLL_S": "0.2",
    "OMP_NUM_THREADS": "1",
}
# A worker process reading with the stalling test decoder, whose claims hold a 2-second lease.
_STALLING_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from januscxr.server.settings import Settings
    from januscxr.server.workers import run_workers
    from tests.server.slow_decoder import read_slowly

    settings = Settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[2], job_lease_s=2, read_timeout_s=300)
    run_workers(settings, decode=read_slowly)
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The embedded SQLite file in the data folder, or the test PostgreSQL server, emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'data' / 'januscxr.db').resolve()}"
    url = postgres_url()
    fresh_postgres(url)
    return url


def _queue_images(
    tmp_path: Path, names_and_data: list[tuple[str, bytes]], *, max_attempts: int = 3, url: str | None = None
) -> tuple[Database, Path, list[int]]:
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    db = open_database(url or f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    ids = []
    for name, data in names_and_data:
        (tmp_path / name).write_bytes(data)
        image_id = ingest_file(db, data_dir, tmp_path / name, name=name).image_id
        assert image_id is not None
        with db.write() as session:
            enqueue_job(session, image_id, max_attempts=max_attempts)
        ids.append(image_id)
    return db, data_dir, ids


def _worker_cli(data_dir: Path, url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "januscxr.cli.app", "worker", "--data-dir", str(data_dir), "--database-url", url]
    return subprocess.Popen(command, env=ENV, start_new_session=True, stderr=subprocess.DEVNULL)


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _job(db: Database, image_id: int) -> Job:
    with db.read() as session:
        job = session.query(Job).filter_by(image_id=image_id).one()
        session.expunge(job)
        return job


def _idle(db: Database) -> bool:
    with db.read() as session:
        return count_active_jobs(session) == 0


def _stop(worker: subprocess.Popen[bytes]) -> int:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _results_per_image(db: Database) -> dict[int, int]:
    with db.read() as session:
        counts: dict[int, int] = {}
        for (image_id,) in session.query(AiResult.image_id):
            counts[image_id] = counts.get(image_id, 0) + 1
        return counts


def test_a_worker_killed_mid_read_loses_nothing_and_reads_nothing_twice(tmp_path: Path, database_url: str) -> None:
    files = [("slow.png", png_bytes(1, size=SLOW_WIDTH_PX)), ("a.png", png_bytes(2)), ("b.png", png_bytes(3))]
    db, data_dir, (slow, *fast) = _queue_images(tmp_path, files, url=database_url)
    command = [sys.executable, "-c", _STALLING_WORKER, str(data_dir), database_url]
    stalling = subprocess.Popen(command, env=ENV, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _job(db, slow).state == JobState.RUNNING, 120, "the first worker to claim")
        time.sleep(1.0)  # in the decoder's stall: mid-read
        assert _job(db, slow).state == JobState.RUNNING and not _results_per_image(db)
    finally:
        os.killpg(stalling.pid, signal.SIGKILL)  # the worker and its decoder child, without warning
        stalling.wait()
    dead = _job(db, slow)
    assert (dead.state, dead.attempts) == (JobState.RUNNING, 1)  # left behind, leased to the dead
    worker = _worker_cli(data_dir, database_url)
    try:
        _wait_for(lambda: _idle(db), 180, "the restarted worker to read the queue")
    finally:
        assert _stop(worker) == 0  # SIGTERM: stops cleanly
    assert _results_per_image(db) == {slow: 1, fast[0]: 1, fast[1]: 1}
    assert [_job(db, i).attempts for i in (slow, *fast)] == [2, 1, 1]
    with db.read() as session:
        assert {s.ai_status for s in session.query(Study)} == {"done"}
    db.dispose()


def test_two_worker_processes_never_read_a_study_twice(tmp_path: Path, database_url: str) -> None:
    files = [(f"{n}.png", png_bytes(10 + n)) for n in range(8)]
    db, data_dir, ids = _queue_images(tmp_path, files, url=database_url)
    workers = [_worker_cli(data_dir, database_url) for _ in range(2)]
    try:
        _wait_for(lambda: _idle(db), 180, "two workers to read the queue")
    finally:
        assert [_stop(worker) for worker in workers] == [0, 0]
    assert _results_per_image(db) == dict.fromkeys(ids, 1)
    with db.read() as session:
        assert {job.state for job in session.query(Job)} == {JobState.DONE}
    db.dispose()


def test_a_failed_job_shows_on_the_admin_page_with_its_error(login: Callable[[str], Reader], room) -> None:
    from januscxr.storage.studies import StudyAttributes, add_image, add_study

    with room.db.write() as session:
        study, _ = add_study(session, StudyAttributes(study_instance_uid="9.9"))
        image = add_image(session, study, sop_instance_uid="9.9.1", file_path="images/none.png")
        enqueue_job(session, image.id, max_attempts=1)
        assert claim_job(session, "a-worker-that-dies", lease_s=-1) is not None  # its lease already over
    admin = login("admin")
    with room.db.write() as session:
        assert claim_job(session, "next") is None  # the job is set aside
    page = admin.client.get("/admin")
    assert page.status_code == 200
    assert 'id="failed-jobs"' in page.text
    assert f'href="/studies/{study.id}"' in page.text
    assert "AI failed: the AI stopped 1 time(s) while reading this image; it was set aside." in page.text


def test_an_unexpected_failure_is_retried_then_set_aside_with_its_error(tmp_path: Path) -> None:
    db, data_dir, (image_id,) = _queue_images(tmp_path, [("a.png", png_bytes(4))], max_attempts=2)
    pool = InferencePool(db, data_dir, classifier="fake-classifier", decode=read_brokenly)
    try:
        pool.start()
        pool.wait_idle(timeout_s=120)
    finally:
        pool.shutdown()
    job = _job(db, image_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.FAILED, 2, INTERNAL)
    with db.read() as session:
        assert get_image(session, image_id).error == INTERNAL
        assert get_image(session, image_id).study.ai_status == "failed"
    db.dispose()
