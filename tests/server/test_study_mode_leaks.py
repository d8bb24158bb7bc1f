"""Study mode: no response to a standard-arm reader depends on AI output (issue 10, item 4).

Two rooms hold the same studies; in one the AI results are removed. A standard-arm reader
walks every GET route of the API in both and must see the same thing for their standard-arm cases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from januscxr.server import create_app
from tests.server.conftest import PASSWORD, add_users, make_settings
from tests.server.seeding import remove_ai_results, seed_studies

N_STUDIES = 12
QUERIES = ["", "?finding=pneumothorax", "?finding=Edema", "?status=draft", "?limit=3", "?offset=2"]


def _room(tmp_path: Path, name: str, *, with_ai: bool) -> FastAPI:
    app = create_app(make_settings(tmp_path / name, study_mode=True, study_seed="leak-check"))
    add_users(app.state.room)
    seed_studies(app.state.room, N_STUDIES)
    if not with_ai:
        remove_ai_results(app.state.room)
    return app


def _client(app: FastAPI, username: str) -> TestClient:
    client = TestClient(app)  # no lifespan: nothing queues the AI-less images for the model again
    response = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    client.headers["X-Test-CSRF"] = response.json()["csrf_token"]  # to blank it out of pages
    return client


def _get_routes(app: FastAPI) -> list[str]:
    """The path templates of every GET route under /api."""
    found: list[str] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + getattr(route.include_context, "prefix", ""))
            elif isinstance(route, APIRoute) and "GET" in route.methods:
                found.append(prefix + route.path)

    walk(app.routes, "")
    return sorted(p for p in set(found) if p.startswith("/api/"))


def _urls(template: str, study_id: int) -> list[str]:
    """The template with the study's own ids (seeded one image and one AI result per study, in order)."""
    filled = re.sub(r"\{(study_id|image_id|reading_id|result_id)\}", str(study_id), template)
    filled = filled.replace("{finding}", "pneumothorax")
    return [filled + query for query in (QUERIES if "{" not in template and "worklist" in template else [""])]


def _normalised(body: Any, standard: set[int]) -> Any:
    """Times and tokens differ between any two rooms; worklists reduced to the standard-arm cases."""
    if isinstance(body, list):
        if body and isinstance(body[0], dict) and "study_id" in body[0] and "priority" in body[0]:
            body = [item for item in body if item["study_id"] in standard]
        return [_normalised(item, standard) for item in body]
    if isinstance(body, dict):
        return {
            k: _normalised(v, standard)
            for k, v in body.items()
            if not k.endswith("_at") and k not in {"csrf_token", "waiting_min"}
        }
    return body


def _response(client: TestClient, url: str, standard: set[int]) -> tuple[int, Any]:
    response = client.get(url)
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.status_code, _normalised(response.json(), standard)
    return response.status_code, response.content.replace(client.headers["X-Test-CSRF"].encode(), b"<csrf>")


def test_a_standard_arm_reader_sees_nothing_that_depends_on_ai(tmp_path: Path) -> None:
    with_ai, without_ai = _room(tmp_path, "ai", with_ai=True), _room(tmp_path, "no-ai", with_ai=False)
    readers = {"ai": _client(with_ai, "rad"), "no-ai": _client(without_ai, "rad")}
    arms = {s: readers["ai"].get(f"/api/studies/{s}").json()["arm"] for s in range(1, N_STUDIES + 1)}
    for study_id in arms:
        readers["no-ai"].get(f"/api/studies/{study_id}")  # the same first opening in both rooms
    standard = {s for s, arm in arms.items() if arm == "standard"}
    assert standard and len(standard) < N_STUDIES
    routes = _get_routes(with_ai)
    assert {"/api/worklist", "/api/studies/{study_id}", "/api/studies/{study_id}/report"} <= set(routes)
    compared = 0
    for template in routes:
        for study_id in sorted(standard):
            for url in _urls(template, study_id):
                seen = {name: _response(client, url, standard) for name, client in readers.items()}
                assert seen["ai"] == seen["no-ai"], url
                compared += 1
    assert compared > len(routes) * len(standard)
    # The AI is there for the other arm: the comparison is not vacuous.
    assisted = min(set(arms) - standard)
    assert readers["ai"].get(f"/api/studies/{assisted}").json()["ai_results"]
