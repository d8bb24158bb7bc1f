"""Report life cycle: versions, signatures, co-signatures, addenda, immutability and races."""

from __future__ import annotations

import threading

import pytest

from januscxr.errors import ConflictError, ReportStateError, StorageError
from januscxr.labels import Finding
from januscxr.storage import audit, reports
from januscxr.storage.database import Database
from januscxr.storage.reports import ReportText
from januscxr.storage.studies import get_study, record_ai_result
from januscxr.storage.tables import AiResult, AuditEvent, Report, ReportStatus
from tests.storage.conftest import DRAFT, make_study, make_users, prediction

EDIT = ReportText("Small right pneumothorax.", "Right pneumothorax, small.")


def drafted(db: Database) -> int:
    """A study with an AI result and the report prefilled from it; returns the report id."""
    _, image = make_study(db)
    with db.write() as session:
        result = record_ai_result(session, image, prediction({Finding.PNEUMOTHORAX: 0.9}), DRAFT)
        report = reports.ensure_report(session, get_study(session, image.study_id), result)
        return report.id


def test_new_report_starts_from_the_ai_draft(db: Database) -> None:
    report_id = drafted(db)
    with db.read() as session:
        report = reports.get_report_by_id(session, report_id)
        assert (report.findings, report.status, report.revision) == (DRAFT.findings, "draft", 1)
        assert [v.kind for v in reports.list_versions(session, report_id)] == ["ai_draft"]


def test_saves_need_the_current_revision(db: Database) -> None:
    users, report_id = make_users(db), drafted(db)
    with db.write() as session:
        saved = reports.save_draft(session, report_id, revision=1, text=EDIT, user=users["rad"])
        assert saved.revision == 2 and saved.findings == EDIT.findings
    with pytest.raises(ConflictError, match="revision 2"), db.write() as session:
        reports.save_draft(session, report_id, revision=1, text=EDIT, user=users["rad"])


def test_signed_text_never_changes(db: Database) -> None:
    users, report_id = make_users(db), drafted(db)
    with db.write() as session:
        signed = reports.sign_report(session, report_id, revision=1, text=EDIT, user=users["rad"])
        assert signed.status == "signed" and signed.signed_by_id == users["rad"].id
        assert get_study(session, signed.study_id).report_status == "signed"
    with pytest.raises(ReportStateError), db.write() as session:
        reports.save_draft(session, report_id, revision=2, text=ReportText("changed", "changed"), user=users["rad"])
    with pytest.raises(ReportStateError), db.write() as session:
        session.get_one(Report, report_id).findings = "changed behind the repository's back"
        session.flush()
    with db.read() as session:
        assert reports.get_report_by_id(session, report_id).findings == EDIT.findings


def test_addenda_amend_a_signed_report(db: Database) -> None:
    users, report_id = make_users(db), drafted(db)
    with pytest.raises(ReportStateError, match="addenda are for signed"), db.write() as session:
        reports.add_addendum(session, report_id, text="too early", user=users["rad"])
    with db.write() as session:
        reports.sign_report(session, report_id, revision=1, text=EDIT, user=users["rad"])
        reports.add_addendum(session, report_id, text="Compared with prior: unchanged.", user=users["rad2"])
    with db.read() as session:
        report = reports.get_report_by_id(session, report_id)
        assert report.status == ReportStatus.AMENDED and report.findings == EDIT.findings
        assert [a.text for a in report.addenda] == ["Compared with prior: unchanged."]


def test_residents_sign_preliminary_and_radiologists_cosign(db: Database) -> None:
    users, report_id = make_users(db), drafted(db)
    with db.write() as session:
        assert reports.sign_report(session, report_id, revision=1, text=EDIT, user=users["res"]).status == "preliminary"
    with pytest.raises(ReportStateError, match="co-signature"), db.write() as session:
        reports.sign_report(session, report_id, revision=2, text=EDIT, user=users["res"])
    with pytest.raises(ReportStateError, match="admin"), db.write() as session:
        reports.sign_report(session, report_id, revision=2, text=EDIT, user=users["admin"])
    with db.write() as session:
        report = reports.sign_report(session, report_id, revision=2, text=EDIT, user=users["rad"])
        assert report.status == "signed"
        assert (report.signed_by_id, report.cosigned_by_id) == (users["res"].id, users["rad"].id)


def test_ai_results_and_audit_events_are_append_only(db: Database) -> None:
    users, _ = make_users(db), drafted(db)
    with pytest.raises(StorageError, match="append-only"), db.write() as session:
        session.get_one(AiResult, 1).model_id = "something else"
        session.flush()
    with db.write() as session:
        audit.record_event(session, "view", user=users["rad"], study_id=1)
    with pytest.raises(StorageError, match="append-only"), db.write() as session:
        session.delete(session.get_one(AuditEvent, 1))
        session.flush()


def test_two_readers_signing_at_once_one_wins_nothing_lost(db: Database) -> None:
    users, report_id = make_users(db), drafted(db)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    texts = {name: ReportText(f"Findings by {name}.", f"Impression by {name}.") for name in ("rad", "rad2")}

    def sign(name: str) -> None:
        barrier.wait()
        try:
            with db.write() as session:
                reports.sign_report(session, report_id, revision=1, text=texts[name], user=users[name])
            outcomes[name] = "signed"
        except ConflictError:
            with db.write() as session:
                reports.keep_conflicting_text(session, report_id, text=texts[name], user=users[name])
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=sign, args=(name,)) for name in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "signed"]
    winner = next(n for n, o in outcomes.items() if o == "signed")
    loser = next(n for n, o in outcomes.items() if o == "conflict")
    with db.read() as session:
        report = reports.get_report_by_id(session, report_id)
        assert report.findings == texts[winner].findings and report.revision == 2
        kept = {v.kind: v.findings for v in reports.list_versions(session, report_id)}
        assert kept["signed"] == texts[winner].findings and kept["conflict"] == texts[loser].findings


def test_a_report_opened_before_the_model_finished_gets_the_ai_draft(db: Database) -> None:
    study, image = make_study(db)
    with db.write() as session:
        empty = reports.ensure_report(session, get_study(session, study.id))
        assert (empty.findings, empty.revision) == ("", 1)
        result = record_ai_result(session, image, prediction({Finding.PNEUMOTHORAX: 0.9}), DRAFT)
        filled = reports.ensure_report(session, get_study(session, study.id), result)
        assert (filled.id, filled.findings, filled.revision) == (empty.id, DRAFT.findings, 2)
        assert [v.kind for v in reports.list_versions(session, filled.id)] == ["draft", "ai_draft"]
