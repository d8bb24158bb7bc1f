"""Sign and next: /studies/{id}/next opens the next unsigned study in the reader's worklist order."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from januscxr.server import create_app
from januscxr.storage.tables import Priority, Study
from tests.server.conftest import PASSWORD, Reader, add_users, make_settings
from tests.server.seeding import seed_studies


def _next(reader: Reader, study_id: int) -> str:
    response = reader.client.get(f"/studies/{study_id}/next", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _sign(reader: Reader, study_id: int) -> None:
    report = reader.client.get(f"/api/studies/{study_id}").json()["report"]
    body = {"revision": report["revision"], "findings": "Read.", "impression": "Read."}
    response = reader.write("POST", f"/api/studies/{study_id}/report/sign", json=body)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]


def test_next_follows_the_worklist_order_and_survives_the_signature(login, room) -> None:
    ids = seed_studies(room, 4)
    with room.db.write() as session:  # the last one received is the only critical one: it comes first
        session.execute(update(Study).values(priority=Priority.ROUTINE.value))
        session.execute(update(Study).where(Study.id == ids[3]).values(priority=Priority.CRITICAL.value))
    rad = login("rad")
    order = [item["study_id"] for item in rad.client.get("/api/worklist").json()]
    assert order == [ids[3], ids[0], ids[1], ids[2]]
    assert _next(rad, order[0]) == f"/studies/{order[1]}"
    _sign(rad, order[1])
    assert _next(rad, order[1]) == f"/studies/{order[2]}"  # signed, off the worklist, still "after" its place
    assert _next(rad, order[0]) == f"/studies/{order[2]}"  # the signed one is skipped
    assert _next(rad, order[3]) == f"/studies/{order[0]}"  # nothing after the last: back to the top
    for study_id in (order[0], order[2], order[3]):
        _sign(rad, study_id)
    assert _next(rad, order[3]) == "/worklist"
    assert rad.client.get("/studies/999/next", follow_redirects=False).status_code == 404


def test_study_mode_next_is_by_waiting_time_and_per_reader(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, study_mode=True))
    add_users(app.state.room)
    ids = seed_studies(app.state.room, 3)
    readers = {}
    for name in ("rad", "rad2"):
        client = TestClient(app)
        token = client.post("/api/session", json={"username": name, "password": PASSWORD}).json()["csrf_token"]
        readers[name] = Reader(client, token)
    assert _next(readers["rad"], ids[0]) == f"/studies/{ids[1]}"  # waiting time, not urgency
    _sign(readers["rad"], ids[1])
    assert _next(readers["rad"], ids[0]) == f"/studies/{ids[2]}"  # rad signed the second case
    assert _next(readers["rad2"], ids[0]) == f"/studies/{ids[1]}"  # rad2 has not
