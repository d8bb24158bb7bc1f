"""DICOMweb polling state: studies noted once, claimed once, retried with backoff, set aside, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from januscxr.storage import dicomweb
from januscxr.storage.database import Database
from januscxr.storage.dicomweb import FoundStudy
from januscxr.storage.tables import DicomwebStudy, JobState, utcnow
from tests.storage.conftest import make_study

SERVER = "pacs"


def _note(db: Database, *uids: str) -> int:
    with db.write() as session:
        return dicomweb.note_studies(session, SERVER, [FoundStudy(uid, "20261129") for uid in uids])


def _claim(db: Database, owner: str = "poller-a", **options: float) -> dicomweb.ClaimedStudy | None:
    with db.write() as session:
        return dicomweb.claim_study(session, SERVER, owner, **options)  # type: ignore[arg-type]


def _states(db: Database) -> dict[str, str]:
    with db.read() as session:
        rows = session.execute(select(DicomwebStudy.study_instance_uid, DicomwebStudy.state))
        return {uid: state for uid, state in rows}


def test_a_study_is_noted_once_however_often_it_is_found(db: Database) -> None:
    assert _note(db, "1.1", "1.2") == 2
    assert _note(db, "1.2", "1.3") == 1
    assert _states(db) == {"1.1": "queued", "1.2": "queued", "1.3": "queued"}


def test_a_claimed_study_is_not_claimed_again_and_a_retrieved_one_never(db: Database) -> None:
    _note(db, "1.1")
    claim = _claim(db)
    assert claim is not None and (claim.study_instance_uid, claim.attempt) == ("1.1", 1)
    assert _claim(db, "poller-b") is None  # held by poller-a
    with db.write() as session:
        dicomweb.finish_study(session, claim, instances=2)
    _note(db, "1.1")  # found again by the next poll's overlapping query
    assert _claim(db, "poller-b") is None
    assert _states(db) == {"1.1": JobState.DONE.value}


def _found(db: Database, uid: str, instances: int) -> tuple[int, int]:
    """One poll's noting of ``uid`` with ``instances`` Number of Study Related Instances: (new, requeued)."""
    found = [FoundStudy(uid, "20261129", instances)]
    with db.write() as session:
        return dicomweb.note_studies(session, SERVER, found), dicomweb.requeue_grown_studies(session, SERVER, found)


def _retrieve(db: Database, owner: str, *, instances: int) -> None:
    claim = _claim(db, owner)
    assert claim is not None
    with db.write() as session:
        dicomweb.finish_study(session, claim, instances=instances)


def test_a_retrieved_study_that_grew_is_claimed_again_by_one_poller(db: Database) -> None:
    assert _found(db, "1.1", 1) == (1, 0)
    _retrieve(db, "poller-a", instances=1)
    assert _found(db, "1.1", 1) == (0, 0)  # the overlapping query finds it again, unchanged
    assert _claim(db, "poller-b") is None
    assert _found(db, "1.1", 2) == (0, 1)  # a late instance
    assert _found(db, "1.1", 2) == (0, 0)  # the other poller's query: queued once
    again = _claim(db, "poller-a")
    assert again is not None and (again.study_instance_uid, again.attempt) == ("1.1", 1)
    assert _claim(db, "poller-b") is None  # held by poller-a
    assert _found(db, "1.1", 3) == (0, 0)  # grown while running: left to the next poll
    with db.write() as session:
        dicomweb.finish_study(session, again, instances=1)
    assert _found(db, "1.1", 2) == (0, 0)
    assert _found(db, "1.1", 3) == (0, 1)  # the third, which the running retrieval may have missed
    _retrieve(db, "poller-b", instances=1)
    with db.read() as session:
        study = session.scalars(select(DicomwebStudy)).one()
    assert (study.state, study.instances, study.number_of_study_related_instances) == ("done", 3, 3)


def test_a_queued_study_takes_the_new_count_and_a_set_aside_one_stays_aside(db: Database) -> None:
    _found(db, "1.1", 1)
    _found(db, "1.2", 1)
    assert _found(db, "1.1", 2) == (0, 0)
    claim = _claim(db)
    assert claim is not None and claim.study_instance_uid == "1.1"
    with db.write() as session:
        dicomweb.fail_study(session, claim, "HTTP 404 Not Found", retry_in_s=0.0, max_attempts=1)
    assert _found(db, "1.1", 5) == (0, 0)
    with db.read() as session:
        rows = session.execute(
            select(DicomwebStudy.study_instance_uid, DicomwebStudy.number_of_study_related_instances)
        )
        counts = {uid: count for uid, count in rows}
    assert counts == {"1.1": 2, "1.2": 1} and _states(db)["1.1"] == "failed"


def test_a_study_retrieved_before_counts_were_kept_is_claimed_again_once(db: Database) -> None:
    _note(db, "1.1")  # no count: from before 0010, or a server that does not give one
    _retrieve(db, "poller-a", instances=1)
    assert _found(db, "1.1", 1) == (0, 1)
    _retrieve(db, "poller-a", instances=0)
    assert _found(db, "1.1", 1) == (0, 0)


def test_the_instances_held_of_a_study_are_listed_from_any_source(db: Database) -> None:
    make_study(db, "1.2.3.4")
    make_study(db, "1.2.3.5")
    with db.read() as session:
        assert dicomweb.stored_instance_uids(session, "1.2.3.4") == {"1.2.3.4.1"}
        assert dicomweb.stored_instance_uids(session, "9.9") == set()


def test_a_claim_whose_poller_died_is_taken_again_after_its_lease(db: Database) -> None:
    _note(db, "1.1")
    dead = _claim(db, "poller-a", lease_s=0.0)
    assert dead is not None
    taken = _claim(db, "poller-b")
    assert taken is not None and (taken.owner, taken.attempt) == ("poller-b", 2)
    with db.write() as session, pytest.raises(dicomweb.StudyClaimLostError):
        dicomweb.finish_study(session, dead, instances=1)  # the dead poller's late result is refused


def test_a_study_that_keeps_failing_is_set_aside_after_its_attempts(db: Database) -> None:
    _note(db, "1.1", "1.2")
    for attempt in (1, 2):
        claim = _claim(db, max_attempts=2)
        assert claim is not None and (claim.study_instance_uid, claim.attempt) == ("1.1", attempt)
        with db.write() as session:
            set_aside = dicomweb.fail_study(session, claim, "HTTP 404 Not Found", retry_in_s=0.0, max_attempts=2)
        assert set_aside is (attempt == 2)
    claim = _claim(db, max_attempts=2)
    assert claim is not None and claim.study_instance_uid == "1.2"  # the failing study blocks nothing
    with db.read() as session:
        [aside] = dicomweb.set_aside_studies(session)
    assert (aside.study_instance_uid, aside.attempts, aside.last_error) == ("1.1", 2, "HTTP 404 Not Found")


def test_a_failed_retrieval_waits_and_a_server_failure_costs_no_attempt(db: Database) -> None:
    _note(db, "1.1")
    claim = _claim(db)
    assert claim is not None
    with db.write() as session:
        dicomweb.fail_study(session, claim, "cannot connect", retry_in_s=3600.0, counted=False)
    assert _claim(db) is None  # waits out its backoff
    with db.write() as session:
        session.execute(DicomwebStudy.__table__.update().values(next_try_at=utcnow() - timedelta(seconds=1)))
    again = _claim(db)
    assert again is not None and again.attempt == 1


def test_the_cursor_only_moves_forward_and_failures_back_off_up_to_the_cap(db: Database) -> None:
    with db.write() as session:
        dicomweb.record_poll(session, SERVER, cursor_study_date="20261129", next_poll_at=utcnow())
        dicomweb.record_poll(session, SERVER, cursor_study_date="20261001", next_poll_at=utcnow())
        assert dicomweb.server_cursor(session, SERVER) == "20261129"
    waits = []
    for _ in range(5):
        with db.write() as session:
            before = utcnow()
            next_poll_at = dicomweb.record_poll_failure(session, SERVER, "HTTP 401 Unauthorized", base_s=10, cap_s=60)
        waits.append(round((next_poll_at - before).total_seconds()))
    assert waits == [20, 40, 60, 60, 60]
    with db.read() as session:
        [status] = dicomweb.server_statuses(session)
        assert dicomweb.next_poll_at(session, SERVER) == next_poll_at
    assert (status.failures, status.last_error, status.cursor_study_date) == (5, "HTTP 401 Unauthorized", "20261129")
    with db.write() as session:
        dicomweb.record_poll(session, SERVER, cursor_study_date=None, next_poll_at=utcnow())
    with db.read() as session:
        [status] = dicomweb.server_statuses(session)
    assert status.failures == 0 and status.last_success_at is not None


def test_backoff_doubles_from_the_poll_interval_and_is_capped() -> None:
    assert [dicomweb.backoff_s(n, base_s=30, cap_s=600) for n in (1, 2, 3, 4, 5, 100)] == [60, 120, 240, 480, 600, 600]
