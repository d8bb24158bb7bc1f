"""The durable job queue: claims, leases, expiry, attempts, and claimers in separate processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import select

from januscxr.storage.database import Database, create_database_engine
from januscxr.storage.jobs import (
    ClaimedJob,
    LeaseLostError,
    claim_job,
    count_active_jobs,
    enqueue_job,
    enqueue_pending,
    fail_attempt,
    failed_jobs,
    finish_job,
    has_claimable_job,
    hold_study_jobs,
    next_due_in,
    renew_lease,
)
from januscxr.storage.studies import StudyAttributes, add_image, add_study, get_image, record_ai_result
from januscxr.storage.tables import AiResult, Job, JobState
from januscxr.storage.users import as_utc
from tests.storage.conftest import DRAFT, prediction

SHORT_LEASE_S = 0.2
QUIET_S = 0.4


def make_images(db: Database, count: int) -> list[int]:
    with db.write() as session:
        ids = []
        for number in range(count):
            study, _ = add_study(session, StudyAttributes(study_instance_uid=f"1.2.{number}"))
            ids.append(add_image(session, study, sop_instance_uid=f"1.2.{number}.1", file_path=f"images/{number}").id)
        return ids


def job_of(db: Database, image_id: int) -> Job:
    with db.read() as session:
        job = session.query(Job).filter_by(image_id=image_id).one()
        session.expunge(job)
        return job


def test_a_job_is_claimed_once_and_finished(db: Database) -> None:
    first, second = make_images(db, 2)
    with db.write() as session:
        for image_id in (first, second, first):  # queuing twice keeps one job
            enqueue_job(session, image_id)
    with db.read() as session:
        assert count_active_jobs(session) == 2
    with db.write() as session:
        a = claim_job(session, "worker-a")
    with db.write() as session:
        b = claim_job(session, "worker-b")
    with db.write() as session:
        assert claim_job(session, "worker-c") is None  # both leased
    assert a is not None and b is not None
    assert (a.image_id, a.attempt, b.image_id) == (first, 1, second)
    with db.write() as session:
        finish_job(session, a)
    with db.read() as session:
        assert count_active_jobs(session) == 1
    assert job_of(db, first).state == JobState.DONE
    assert job_of(db, second).leased_by == "worker-b"


def test_an_expired_lease_is_taken_again_and_the_old_holder_stores_nothing(db: Database) -> None:
    (image_id,) = make_images(db, 1)
    with db.write() as session:
        enqueue_job(session, image_id)
        dead = claim_job(session, "dead-worker", lease_s=SHORT_LEASE_S)
    assert dead is not None
    with db.read() as session:
        assert not has_claimable_job(session)
    time.sleep(SHORT_LEASE_S * 2)
    with db.write() as session:
        alive = claim_job(session, "live-worker")
    assert alive is not None and (alive.id, alive.attempt) == (dead.id, 2)
    with db.write() as session:
        assert not renew_lease(session, dead)
        assert renew_lease(session, alive)
    with pytest.raises(LeaseLostError, match="no longer leased to dead-worker"), db.write() as session:
        finish_job(session, dead)
        record_ai_result(session, get_image(session, image_id), prediction({}), DRAFT)
    with db.write() as session:
        finish_job(session, alive)
        record_ai_result(session, get_image(session, image_id), prediction({}), DRAFT)
    with db.read() as session:
        assert session.query(AiResult).filter_by(image_id=image_id).count() == 1


def test_a_job_whose_workers_keep_dying_is_set_aside_and_the_rest_go_on(db: Database) -> None:
    poison, healthy = make_images(db, 2)
    with db.write() as session:
        enqueue_job(session, poison, max_attempts=2)
        enqueue_job(session, healthy, max_attempts=2)
    for attempt in (1, 2):
        with db.write() as session:
            job = claim_job(session, f"doomed-{attempt}", lease_s=SHORT_LEASE_S)
        assert job is not None and (job.image_id, job.attempt) == (poison, attempt)
        with db.write() as session:  # the healthy job is claimable meanwhile: never blocked
            other = claim_job(session, "other", lease_s=SHORT_LEASE_S)
        if other is not None:
            with db.write() as session:
                finish_job(session, other)
        time.sleep(SHORT_LEASE_S * 2)
    with db.write() as session:
        assert claim_job(session, "next") is None  # the poison job is set aside, not handed out
    failed = job_of(db, poison)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 2)
    assert job_of(db, healthy).state == JobState.DONE
    with db.read() as session:
        image = get_image(session, poison)
        assert image.error == "AI failed: the AI stopped 2 time(s) while reading this image; it was set aside."
        assert image.study.ai_status == "failed"
        (row,) = failed_jobs(session)
        assert (row.image_id, row.study_id, row.attempts, row.last_error) == (poison, image.study_id, 2, image.error)
    with db.write() as session:
        assert poison not in enqueue_pending(session)  # a failed image is not pending


def test_failed_attempts_are_retried_then_set_aside_with_their_error(db: Database) -> None:
    (image_id,) = make_images(db, 1)
    with db.write() as session:
        enqueue_job(session, image_id, max_attempts=2)
    for attempt, last in ((1, False), (2, True)):
        with db.write() as session:
            job = claim_job(session, "w")
            assert job is not None and job.attempt == attempt
            assert fail_attempt(session, job, f"AI failed ({attempt}).") is last
    job_row = job_of(db, image_id)
    assert (job_row.state, job_row.last_error) == (JobState.FAILED, "AI failed (2).")
    with db.read() as session:
        assert get_image(session, image_id).error == "AI failed (2)."
        assert count_active_jobs(session) == 0


def test_pending_images_are_queued_once_and_finished_jobs_can_be_queued_again(db: Database) -> None:
    first, second = make_images(db, 2)
    with db.write() as session:
        enqueue_job(session, first)
        assert enqueue_pending(session) == [second]
        assert enqueue_pending(session) == []
        job = claim_job(session, "w")
        assert job is not None
        finish_job(session, job)
        enqueue_job(session, first)  # asked to read again
    again = job_of(db, first)
    assert (again.state, again.attempts, again.leased_by) == (JobState.QUEUED, 0, None)


def _claim_all(url: str, owner: str, start: Barrier, results: multiprocessing.Queue[list[int]]) -> None:
    """In a separate process: claim and finish jobs until none is left; put the claimed image ids."""
    db = Database(create_database_engine(url))  # migrated by the test: two migrating at once is another matter
    start.wait(timeout=120)  # both connected: they claim at the same time
    claimed: list[int] = []
    while True:
        with db.write() as session:
            job = claim_job(session, owner)
            if job is None:
                break
            claimed.append(job.image_id)
        time.sleep(0.002)  # a read
        with db.write() as session:
            finish_job(session, job)
    db.dispose()
    results.put(claimed)


def test_claimers_in_two_processes_never_take_the_same_job(db: Database, tmp_path: Path) -> None:
    ids = make_images(db, 60)
    with db.write() as session:
        for image_id in ids:
            enqueue_job(session, image_id)
    url = db.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[int]] = context.Queue()
    start = context.Barrier(2)
    workers = [context.Process(target=_claim_all, args=(url, f"p{n}", start, results)) for n in range(2)]
    for worker in workers:
        worker.start()
    claimed = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sorted(claimed[0] + claimed[1]) == ids  # every job once: none lost, none twice
    assert all(claimed)  # both really took part
    with db.read() as session:
        assert count_active_jobs(session) == 0


def study_images(db: Database, uid: str, count: int) -> list[int]:
    """``count`` images of one study."""
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(study_instance_uid=uid))
        return [
            add_image(session, study, sop_instance_uid=f"{uid}.{n}", file_path=f"images/{uid}.{n}").id
            for n in range(count)
        ]


def claim_when_due(db: Database, owner: str, timeout_s: float = 10.0) -> tuple[float, ClaimedJob]:
    """Poll until a job can be claimed; (monotonic time of the claim, the job)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with db.write() as session:
            job = claim_job(session, owner)
        if job is not None:
            return time.monotonic(), job
        assert time.monotonic() < deadline, "no job came due"
        time.sleep(0.02)


def test_a_job_held_back_for_its_study_is_claimed_only_once_due(db: Database) -> None:
    (image_id,) = study_images(db, "5.1", 1)
    queued_at = time.monotonic()
    with db.write() as session:
        enqueue_job(session, image_id, quiet_s=QUIET_S)
    with db.write() as session:
        assert claim_job(session, "early") is None
    with db.read() as session:
        assert not has_claimable_job(session)
        assert count_active_jobs(session) == 1  # waiting, not lost: wait_idle still waits for it
        due_in = next_due_in(session)
    assert due_in is not None and 0 < due_in <= QUIET_S
    claimed_at, job = claim_when_due(db, "on-time")
    assert job.image_id == image_id and claimed_at - queued_at >= QUIET_S
    with db.read() as session:
        assert next_due_in(session) is None  # nothing queued any more
    with db.write() as session:
        finish_job(session, job)
        enqueue_job(session, image_id)  # asked to read again, at once: no longer held back
        assert claim_job(session, "again") is not None


def test_a_new_instance_pushes_its_studys_queued_jobs_forward(db: Database) -> None:
    first, second, third = study_images(db, "6.1", 3)
    (other_study,) = study_images(db, "6.2", 1)
    with db.write() as session:
        enqueue_job(session, first, quiet_s=QUIET_S)
        enqueue_job(session, other_study, quiet_s=QUIET_S)
    time.sleep(QUIET_S / 2)
    with db.write() as session:
        enqueue_job(session, second, quiet_s=QUIET_S)  # the study is still arriving
    held = {image_id: job_of(db, image_id).not_before for image_id in (first, second, other_study)}
    assert held[first] == held[second] and held[first] is not None and held[other_study] is not None
    assert as_utc(held[first]) > as_utc(held[other_study])  # another study is not held back
    with db.write() as session:
        assert hold_study_jobs(session, first, until=as_utc(held[first]) - timedelta(seconds=5)) == 0  # never earlier
    _, job = claim_when_due(db, "w")
    assert job.image_id == other_study  # due first: its study went quiet first
    _, job = claim_when_due(db, "w")
    assert job.image_id == first
    with db.write() as session:
        assert claim_job(session, "w") is not None  # the study's other job came due at the same moment
        enqueue_job(session, third, quiet_s=QUIET_S)  # a late instance: a job of its own, held back
        assert claim_job(session, "w") is None
    running = job_of(db, first)
    assert (running.state, running.not_before) == (JobState.RUNNING, held[first])  # running: not held back
    _, job = claim_when_due(db, "w")
    assert job.image_id == third


def test_instances_of_one_study_queued_at_once_never_deadlock_and_wait_together(db: Database) -> None:
    ids = study_images(db, "7.1", 40)
    errors: list[BaseException] = []

    def enqueue(image_ids: list[int]) -> None:
        try:
            for image_id in image_ids:
                with db.write() as session:
                    enqueue_job(session, image_id, quiet_s=30.0)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=enqueue, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with db.read() as session:
        held = set(session.scalars(select(Job.not_before)))
    assert len(held) == 1 and None not in held  # every job waits for the study's last instance
