"""The worklist: critical first, then flagged, routine, pending; oldest first; filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from januscxr.labels import Finding
from januscxr.storage.database import Database
from januscxr.storage.studies import WorklistQuery, record_ai_result, worklist
from januscxr.storage.tables import ReportStatus, Study
from januscxr.storage.users import add_user, count_users, find_session, start_session
from tests.storage.conftest import DRAFT, make_study, prediction


def test_worklist_orders_by_urgency_then_waiting_time(db: Database) -> None:
    calls = {
        "old-routine": {Finding.PNEUMONIA: 0.1},
        "new-critical": {Finding.PNEUMOTHORAX: 0.9},
        "old-critical": {Finding.PLEURAL_EFFUSION: 0.8},
        "flagged": {Finding.LUNG_OPACITY: 0.7},
    }
    now = datetime.now(UTC)
    for age_h, (uid, probabilities) in zip([5, 1, 3, 2], calls.items(), strict=True):
        study, image = make_study(db, uid)
        with db.write() as session:
            session.get_one(Study, study.id).received_at = now - timedelta(hours=age_h)
            record_ai_result(session, image, prediction(probabilities), DRAFT)
    make_study(db, "pending")
    with db.read() as session:
        rows = worklist(session, WorklistQuery())
        assert [r.study_instance_uid for r in rows] == [
            "old-critical",
            "new-critical",
            "flagged",
            "old-routine",
            "pending",
        ]
        assert rows[0].flagged_findings == "|Pleural Effusion|" and rows[0].top_finding == "Pleural Effusion"
        only = worklist(session, WorklistQuery(finding=Finding.PNEUMOTHORAX))
        assert [r.study_instance_uid for r in only] == ["new-critical"]
        assert worklist(session, WorklistQuery(statuses=(ReportStatus.SIGNED,))) == []
        today = worklist(session, WorklistQuery(received_from=date.today() + timedelta(days=1)))
        assert today == []
        by_time = worklist(session, WorklistQuery(by_urgency=False))
        assert by_time[0].study_instance_uid == "old-routine"


def test_sessions_expire(db: Database) -> None:
    with db.write() as session:
        user = add_user(session, "rad", "hash", "radiologist")
        start_session(session, user, token_sha256="a" * 64, csrf_token="c", ttl_s=3600)
        start_session(session, user, token_sha256="b" * 64, csrf_token="c", ttl_s=-1)
    with db.read() as session:
        assert count_users(session) == 1
        assert find_session(session, "a" * 64) is not None
        assert find_session(session, "b" * 64) is None


def test_critical_only_when_a_critical_finding_is_urgent(db: Database) -> None:
    from januscxr.storage.studies import add_image
    from januscxr.storage.tables import Priority

    cases = {
        "sensitive-only": [{Finding.PNEUMOTHORAX: 0.6}],  # flagged (0.5) but under the urgent 0.75
        "urgent-not-critical": [{Finding.LUNG_OPACITY: 0.9}],
        "urgent-critical": [{Finding.LUNG_OPACITY: 0.9, Finding.PNEUMOTHORAX: 0.6, Finding.PNEUMONIA: 0.8}],
        "critical-then-calm": [{Finding.PLEURAL_EFFUSION: 0.8}, {Finding.PNEUMOTHORAX: 0.6}],
        "routine": [{Finding.PNEUMOTHORAX: 0.2}],
    }
    for uid, reads in cases.items():
        study, image = make_study(db, uid)
        for i, probabilities in enumerate(reads):
            with db.write() as session:
                if i:
                    image = add_image(session, study, sop_instance_uid=f"{uid}.{i + 1}", file_path="x")
                record_ai_result(session, image, prediction(probabilities), DRAFT)
    with db.read() as session:
        rows = {r.study_instance_uid: r for r in worklist(session, WorklistQuery())}
    assert {uid: Priority(r.priority) for uid, r in rows.items()} == {
        "sensitive-only": Priority.FLAGGED,
        "urgent-not-critical": Priority.FLAGGED,
        "urgent-critical": Priority.CRITICAL,
        "critical-then-calm": Priority.CRITICAL,
        "routine": Priority.ROUTINE,
    }
    assert rows["urgent-critical"].top_finding == "Pneumonia"  # the urgent one, not the flagged pneumothorax
    assert rows["critical-then-calm"].top_finding == "Pleural Effusion"
    assert rows["critical-then-calm"].flagged_findings == "|Pneumothorax|Pleural Effusion|"
    assert rows["sensitive-only"].top_finding == "Pneumothorax"
