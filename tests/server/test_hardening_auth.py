"""Issue 10: the login throttle counts in the database; signed text changes only by the right signature."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from januscxr.server import create_app, sessions
from januscxr.server.security import hash_password
from januscxr.storage.users import add_user
from tests.server.conftest import PASSWORD, add_users, make_settings
from tests.server.seeding import seed_studies
from tests.storage.conftest import fresh_postgres, postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FastAPI]:
    """A reading room on SQLite, then on PostgreSQL."""
    overrides: dict[str, object] = {}
    if request.param == "postgres":
        overrides["database_url"] = postgres_url()
        fresh_postgres(str(overrides["database_url"]))
    app = create_app(make_settings(tmp_path, **overrides))
    add_users(app.state.room)
    yield app
    app.state.room.db.dispose()


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the server verifies (the argon2 calls the throttle must bound)."""
    checked: list[str] = []
    lock = threading.Lock()
    verify = sessions.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        with lock:
            checked.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(sessions, "verify_password", counting)
    return checked


def log_in(app: FastAPI, username: str, password: str = PASSWORD) -> int:
    with TestClient(app) as client:
        return client.post("/api/session", json={"username": username, "password": password}).status_code


def test_forty_concurrent_guesses_get_five_checks_and_colleagues_still_log_in(
    any_db_app: FastAPI, password_checks: list[str]
) -> None:
    barrier, statuses = threading.Barrier(40), []

    def guess(number: int) -> None:
        client = TestClient(any_db_app)
        barrier.wait()
        statuses.append(
            client.post("/api/session", json={"username": "rad", "password": f"guess {number}"}).status_code
        )

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(password_checks) == 5 and sorted(statuses) == [401] * 5 + [429] * 35
    assert log_in(any_db_app, "rad2") == 200  # same address, other account
    assert log_in(any_db_app, "res") == 200
    assert log_in(any_db_app, "rad") == 429  # the attacked account waits for its window to end
    assert len(password_checks) == 7


def test_failed_and_refused_logins_are_audited_with_name_and_address(login, app: FastAPI) -> None:
    for _ in range(5):
        assert log_in(app, "rad", "wrong") == 401
    assert log_in(app, "rad") == 429
    assert log_in(app, "nobody-" + "x" * 70, "wrong") == 422  # longer than a user name can be
    events = login("admin").client.get("/api/audit").json()
    failed = [e["detail"] for e in events if e["action"] == "login_failed"]
    assert failed == [{"username": "rad", "address": "testclient", "known_user": True}] * 5
    (refused,) = [e for e in events if e["action"] == "refused"]
    assert refused["detail"] == {
        "status": 429,
        "method": "POST",
        "path": "/api/session",
        "address": "testclient",
        "reason": "LoginRateLimitedError",
        "username": "rad",
    }


def test_the_address_limit_is_separate_and_higher(tmp_path: Path, password_checks: list[str]) -> None:
    app = create_app(make_settings(tmp_path, login_max_failures=2, login_max_failures_per_address=6))
    add_users(app.state.room)
    for name in ("rad", "rad", "res", "res", "admin", "admin"):
        assert log_in(app, name, "wrong") == 401
    assert log_in(app, "rad2") == 429  # six failures from this address, over three accounts
    assert len(password_checks) == 6


def test_control_characters_in_a_user_name_are_refused(app: FastAPI, anonymous: TestClient) -> None:
    assert anonymous.post("/api/session", json={"username": "rad\x00", "password": PASSWORD}).status_code == 422
    anonymous.get("/login")
    form = {"username": "rad\x00", "password": PASSWORD, "csrf_token": anonymous.cookies["januscxr_login_csrf"]}
    assert anonymous.post("/login", data=form, headers={"Accept": "application/json"}).status_code == 401


def test_a_preliminary_report_changes_only_by_the_cosignature(login, room) -> None:
    (study_id,) = seed_studies(room, 1)
    with room.db.write() as session:
        add_user(session, "res2", hash_password(PASSWORD), "resident", display_name="Dr res2")
    res, res2, rad = login("res"), login("res2"), login("rad")
    url = f"/api/studies/{study_id}/report"
    report = res.client.get(f"/api/studies/{study_id}").json()["report"]
    body = {"revision": report["revision"], "findings": "Right pneumothorax.", "impression": "Pneumothorax."}
    signed = res.write("POST", f"{url}/sign", json=body).json()
    assert (signed["status"], signed["signature"]) == ("preliminary", "Preliminary by Dr res")
    rewrite = {"revision": signed["revision"], "findings": "No pneumothorax.", "impression": "Normal."}
    for other in (res2, rad, res):  # nobody rewrites it with a draft save, not even its author
        refused = other.write("PUT", url, json=rewrite)
        assert refused.status_code == 409 and "co-signature" in refused.json()["message"]
    assert rad.client.get(url).json()["findings"] == "Right pneumothorax."
    cosigned = rad.write("POST", f"{url}/sign", json=rewrite).json()
    assert (cosigned["status"], cosigned["author"]) == ("signed", "Dr rad")
    assert cosigned["signature"] == "Preliminary by Dr res; edited and signed by Dr rad"
    printed = rad.client.get(f"/studies/{study_id}/print").text
    assert "No pneumothorax." in printed and "Preliminary by Dr res; edited and signed by Dr rad" in printed
    versions = rad.client.get(f"{url}/versions").json()
    assert [(v["kind"], v["author"]) for v in versions] == [
        ("ai_draft", None),
        ("preliminary", "Dr res"),
        ("signed", "Dr rad"),
    ]


def test_an_unchanged_cosignature_leaves_the_resident_as_author(login, room) -> None:
    (study_id,) = seed_studies(room, 1)
    res, rad = login("res"), login("rad")
    url = f"/api/studies/{study_id}/report"
    report = res.client.get(f"/api/studies/{study_id}").json()["report"]
    body = {"revision": report["revision"], "findings": "Clear.", "impression": "Normal."}
    res.write("POST", f"{url}/sign", json=body)
    cosigned = rad.write("POST", f"{url}/sign", json=body | {"revision": report["revision"] + 1}).json()
    assert cosigned["author"] == "Dr res" and cosigned["signature"] == "Preliminary by Dr res; co-signed by Dr rad"
    assert "Preliminary by Dr res; co-signed by Dr rad" in rad.client.get(f"/studies/{study_id}/print").text
