"""The audit log's filters and paging, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, text

from januscxr.storage import audit
from januscxr.storage.database import Database
from januscxr.storage.tables import AuditEvent
from tests.storage.conftest import make_users

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


def _events(db: Database) -> None:
    """Six days, one event an hour: ``sign`` every fourth hour by rad, else ``view`` by rad2, study = day + 1."""
    users = make_users(db)
    rows = []
    for hour in range(6 * 24):
        user = users["rad"] if hour % 4 == 0 else users["rad2"]
        rows.append(
            {"at": DAY0 + timedelta(hours=hour), "action": "sign" if hour % 4 == 0 else "view"}
            | {"user_id": user.id, "username": user.username, "study_id": hour // 24 + 1, "detail": {}}
        )
    with db.write() as session:
        session.execute(insert(AuditEvent), rows)


def test_filters_narrow_the_list_and_combine(db: Database) -> None:
    _events(db)
    where = audit.EventFilter
    with db.read() as session:
        assert len(audit.list_events(session, where(action="sign"), limit=1000)) == 36
        assert {e.username for e in audit.list_events(session, where(username="rad2"), limit=1000)} == {"rad2"}
        assert audit.list_events(session, where(username="nobody")) == []
        day = where(at_from=DAY0 + timedelta(days=2), at_to=DAY0 + timedelta(days=3))
        events = audit.list_events(session, day, limit=1000)
        assert len(events) == 24 and {e.study_id for e in events} == {3}
        both = audit.list_events(session, where(action="sign", username="rad", study_id=3), limit=1000)
        assert len(both) == 6 and all(e.action == "sign" and e.study_id == 3 for e in both)


def test_pages_both_ways_within_a_filter(db: Database) -> None:
    _events(db)
    signs = audit.EventFilter(action="sign")
    with db.read() as session:
        everything = [e.id for e in audit.list_events(session, signs, limit=1000)]
        first = audit.page_events(session, signs, limit=10)
        assert [e.id for e in first.events] == everything[:10]
        assert (first.newer_after_id, first.older_before_id) == (None, everything[9])
        second = audit.page_events(session, signs, before_id=first.older_before_id, limit=10)
        assert [e.id for e in second.events] == everything[10:20] and second.newer_after_id == everything[10]
        back = audit.page_events(session, signs, after_id=second.newer_after_id, limit=10)
        assert [e.id for e in back.events] == everything[:10] and back.newer_after_id is None
        last = audit.page_events(session, signs, before_id=everything[29], limit=10)
        assert [e.id for e in last.events] == everything[30:] and last.older_before_id is None


def test_a_filter_by_action_searches_the_action_index(db: Database) -> None:
    users = make_users(db)
    rows = [{"action": "view", "user_id": users["rad"].id, "username": "rad", "detail": {}}] * 5000
    rows += [{"action": "late_instance", "user_id": None, "username": None, "detail": {}}] * 5
    with db.write() as session:
        session.execute(insert(AuditEvent), rows)
        session.execute(text("ANALYZE"))
    statements: list[tuple[str, object]] = []

    def capture(connection: object, cursor: object, statement: str, parameters: object, *args: object) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    with db.read() as session:
        assert len(audit.list_events(session, audit.EventFilter(action="late_instance"))) == 5
    event.remove(db.engine, "before_cursor_execute", capture)
    (statement, parameters), explain = statements[-1], "EXPLAIN QUERY PLAN" if db.engine.name == "sqlite" else "EXPLAIN"
    with db.engine.connect() as connection:
        plan = " ".join(str(row) for row in connection.exec_driver_sql(f"{explain} {statement}", parameters))
    assert "ix_audit_events_action" in plan, plan
