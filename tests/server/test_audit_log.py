"""Issue 11, item 8: the audit log as a table with filters, paging both ways and a CSV export."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from januscxr.server.deps import ReadingRoom
from januscxr.storage.tables import AuditEvent, User
from tests.server.seeding import seed_studies

DAY0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(room: ReadingRoom, n: int, *, action: str = "view", username: str | None = None, day: int = 0) -> None:
    """``n`` events at noon of ``DAY0 + day``, by ``username`` when given, one study each."""
    with room.db.write() as session:
        user_id = session.query(User.id).filter(User.username == username).scalar() if username else None
        rows = [
            {"at": DAY0 + timedelta(days=day), "action": action, "user_id": user_id, "username": username}
            | {"study_id": i + 1, "detail": {"n": i}}
            for i in range(n)
        ]
        session.execute(insert(AuditEvent), rows)


def rows(page: str) -> list[list[str]]:
    """The cells of the admin page's audit table."""
    body = page.split('<table id="audit">')[1].split("</table>")[0]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr><td>.*?</tr>", body)]


def test_filters_by_action_user_study_and_days(login, room) -> None:
    admin = login("admin")
    record(room, 3, action="sign", username="rad", day=0)
    record(room, 4, action="view", username="rad2", day=1)
    record(room, 5, action="sign", username="rad2", day=2)
    signed = rows(admin.client.get("/admin", params={"action": "sign"}).text)
    assert len(signed) == 8 and {r[2] for r in signed} == {"sign"}
    by_user = rows(admin.client.get("/admin", params={"action": "sign", "user": "rad2"}).text)
    assert len(by_user) == 5 and {r[1] for r in by_user} == {"rad2"}
    day = {"date_from": "2026-03-02", "date_to": "2026-03-02", "study_id": "", "user": " "}  # blank = no filter
    assert [r[:3] for r in rows(admin.client.get("/admin", params=day).text)] == [
        ["2026-03-02 12:00:00", "rad2", "view"]
    ] * 4
    assert len(rows(admin.client.get("/admin", params={"date_from": "2026-03-02"}).text)) >= 9
    assert len(rows(admin.client.get("/admin", params={"study_id": "2", "user": "rad2"}).text)) == 2
    assert rows(admin.client.get("/admin", params={"user": "nobody"}).text) == []
    page = admin.client.get("/admin", params={"action": "sign", "user": "rad2"}).text
    assert 'name="action" value="sign"' in page and 'name="user" value="rad2"' in page
    assert 'href="/api/audit.csv?action=sign&amp;user=rad2"' in page
    api = admin.client.get("/api/audit", params={"action": "view", "date_to": "2026-03-02"}).json()
    assert len(api) == 4 and {e["username"] for e in api} == {"rad2"}


def test_bad_filters_are_one_line_422s(login) -> None:
    admin = login("admin")
    backwards = admin.client.get("/api/audit", params={"date_from": "2026-03-02", "date_to": "2026-03-01"})
    assert backwards.status_code == 422 and "date_to 2026-03-01 is before date_from 2026-03-02" in backwards.text
    assert admin.client.get("/admin?date_from=yesterday").status_code == 422
    assert admin.client.get("/admin?study_id=0").status_code == 422
    assert admin.client.get("/api/audit.csv?action=" + "x" * 65).status_code == 422


def test_pages_older_and_newer_within_the_filter(login, room) -> None:
    admin = login("admin")
    record(room, 250, action="sign", username="rad")
    record(room, 30, action="view", username="rad")
    first = admin.client.get("/admin", params={"action": "sign"}).text
    assert len(rows(first)) == 200 and 'id="audit-newer"' not in first
    older = re.search(r'id="audit-older" href="([^"]+)"', first)
    assert older is not None and older.group(1).startswith("/admin?action=sign&amp;before_id=")
    second = admin.client.get(older.group(1).replace("&amp;", "&")).text
    assert len(rows(second)) == 50 and 'id="audit-older"' not in second and "(older events)" in second
    newer = re.search(r'id="audit-newer" href="([^"]+)"', second)
    assert newer is not None and "after_id=" in newer.group(1)
    back = admin.client.get(newer.group(1).replace("&amp;", "&")).text
    assert rows(back) == rows(first)


def test_the_csv_holds_the_filtered_events_and_is_audited_as_an_export(login, room) -> None:
    rad, admin = login("rad"), login("admin")
    (study_id,) = seed_studies(room, 1)
    report = rad.client.get(f"/api/studies/{study_id}").json()["report"]
    body = {"revision": report["revision"], "findings": "Secret words here.", "impression": "Normal."}
    assert rad.write("POST", f"/api/studies/{study_id}/report/sign", json=body).status_code == 200
    record(room, 2, action="=cmd|' /C calc'!A0", username="rad")  # a formula must not run in a spreadsheet
    response = admin.client.get("/api/audit.csv", params={"user": "rad"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in table] == ["'=cmd|' /C calc'!A0"] * 2 + ["sign", "view", "login"]
    assert {r["username"] for r in table} == {"rad"} and "Secret" not in response.text
    sign = next(r for r in table if r["action"] == "sign")
    assert sign["study_id"] == str(study_id) and '"status": "signed"' in sign["detail"]
    exports = admin.client.get("/api/audit", params={"action": "export_audit"}).json()
    assert [(e["username"], e["detail"]) for e in exports] == [("admin", {"user": "rad"})]


def test_the_admin_page_and_the_csv_stay_fast_on_100k_events(login, room) -> None:
    admin = login("admin")
    for day in range(10):
        record(room, 10_000, action="sign" if day == 3 else "view", username="rad", day=day)
    timings = {}
    for name, params in {
        "latest": {},
        "rare action": {"action": "sign"},
        "absent action": {"action": "export_reads"},
        "user": {"user": "rad"},
        "day": {"date_from": "2026-03-05", "date_to": "2026-03-05"},
    }.items():
        start = time.perf_counter()
        page = admin.client.get("/admin", params=params)
        timings[name] = time.perf_counter() - start
        assert page.status_code == 200 and len(rows(page.text)) <= 200
    assert max(timings.values()) < 2.0, timings  # about 50 ms each here; the whole log is never loaded
    start = time.perf_counter()
    export = admin.client.get("/api/audit.csv")
    assert export.text.count("\n") > 100_000 and time.perf_counter() - start < 30.0
