"""Issue 10, item 8: every read of reports, images, exports and the audit log is audited; refusals too."""

from __future__ import annotations

from januscxr.server.deps import ReadingRoom
from januscxr.storage import audit
from tests.server.seeding import seed_studies


def actions(admin, **query: object) -> list[tuple[str | None, str, int | None, dict[str, object]]]:  # type: ignore[no-untyped-def]
    events = admin.client.get("/api/audit", params={"limit": 1000, **query}).json()
    return [(e["username"], e["action"], e["study_id"], e["detail"]) for e in reversed(events)]


def test_reads_of_reports_images_history_and_exports_are_audited(login, room) -> None:
    (study_id,) = seed_studies(room, 1)
    rad, admin = login("rad"), login("admin")
    study = rad.client.get(f"/api/studies/{study_id}").json()
    report_id = study["report"]["id"]
    image_id = study["images"][0]["id"]
    heatmap = study["ai_results"][0]["findings"][0]["heatmap_url"]
    for url in (
        f"/api/studies/{study_id}/report",
        f"/api/studies/{study_id}/report/versions",
        f"/studies/{study_id}/history",
        f"/api/images/{image_id}/display.png",
        heatmap,
    ):
        assert rad.client.get(url).status_code == 200, url
    assert [a for a in actions(admin) if a[0] == "rad" and a[1] != "login"] == [
        ("rad", "view", study_id, {}),
        ("rad", "read_report", study_id, {}),
        ("rad", "read_versions", study_id, {}),
        ("rad", "history", study_id, {}),
        ("rad", "view_image", study_id, {"image_id": image_id}),
        ("rad", "view_heatmap", study_id, {"ai_result_id": study["ai_results"][0]["id"], "finding": "Pneumothorax"}),
    ]
    events = admin.client.get("/api/audit", params={"study_id": study_id}).json()
    assert {e["report_id"] for e in events if e["action"] in {"read_report", "history"}} == {report_id}
    assert "pneumothorax" not in str([e["detail"] for e in events if e["action"] != "view_heatmap"]).lower()


def test_reading_the_audit_log_and_exporting_reads_are_audited(login) -> None:  # type: ignore[no-untyped-def]
    admin = login("admin")
    admin.client.get("/api/audit", params={"limit": 5})
    admin.client.get("/admin")
    admin.client.get("/api/study-mode/reads")
    admin.client.get("/api/study-mode/reads.csv")
    recorded = [(a[1], a[3]) for a in actions(admin) if a[1] != "login"]
    assert recorded[:4] == [
        ("read_audit", {"study_id": None, "before_id": None, "limit": 5}),
        ("read_audit", {"before_id": None, "limit": 200}),
        ("read_reads", {"reads": 0}),
        ("export_reads", {"reads": 0}),
    ]


def test_refused_requests_are_audited(login, room) -> None:
    (study_id,) = seed_studies(room, 1)
    rad, admin = login("rad"), login("admin")
    assert rad.client.get("/api/audit").status_code == 403
    assert rad.client.put(f"/api/studies/{study_id}/report", json={}).status_code == 403  # no CSRF token
    refused = [a for a in actions(admin) if a[1] == "refused"]
    assert [(r[0], r[3]["status"], r[3]["method"], r[3]["path"], r[3]["address"]) for r in refused] == [
        ("rad", 403, "GET", "/api/audit", "testclient"),
        ("rad", 403, "PUT", f"/api/studies/{study_id}/report", "testclient"),
    ]


def record_views(room: ReadingRoom, n: int) -> None:
    with room.db.write() as session:
        for number in range(n):
            audit.record_event(session, "view", study_id=number + 1)


def test_the_audit_log_is_bounded_and_paged(login, room) -> None:
    admin = login("admin")
    record_views(room, 30)
    for bad in ("-1", "0", "1001", "2000000", "x"):
        response = admin.client.get(f"/api/audit?limit={bad}")
        assert response.status_code == 422 and "limit" in response.json()["message"], bad
    first = admin.client.get("/api/audit?limit=10").json()
    second = admin.client.get(f"/api/audit?limit=10&before_id={first[-1]['id']}").json()
    assert len(first) == len(second) == 10
    ids = [e["id"] for e in first + second]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 20
    assert len(admin.client.get("/api/audit").json()) <= 200


def test_the_admin_page_pages_the_audit_log(login, room) -> None:
    admin = login("admin")
    record_views(room, 250)
    page = admin.client.get("/admin").text
    assert page.count("<tr><td>") == 200 and 'id="audit-older"' in page
    older = page.split('id="audit-older" href="')[1].split('"')[0]
    assert older.startswith("/admin?before_id=")
    assert admin.client.get(older).text.count("<tr><td>") >= 50
