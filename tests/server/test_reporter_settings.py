"""The reading room drafts with the reporter its Settings name, loaded with the settings' options."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from januscxr.server import create_app
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings


def test_the_reading_room_drafts_with_a_janus_reporter_from_its_models_folder(
    tmp_path: Path, tiny_janus_dir: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_janus_dir, models / "janus-pro-cxr-final")
    settings = make_settings(
        tmp_path, reporter="janus-pro-cxr-final", models_dir=models, device="cpu", precision="float32", max_new_tokens=6
    )
    app = create_app(settings)
    add_users(app.state.room)
    with TestClient(app) as client:
        csrf = client.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        response = client.post(
            "/api/studies", files=[("files", ("a.dcm", dicom_bytes()))], headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 202, response.text
        app.state.room.pool.wait_idle(timeout_s=300)
        study = client.get(f"/api/studies/{response.json()[0]['study_id']}").json()
    (result,) = study["ai_results"]
    assert result["reporter"] == "janus-pro-cxr-final"


def test_a_missing_janus_model_fails_the_read_with_its_reason(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reporter="janus-pro-cxr-final", models_dir=tmp_path / "empty")
    app = create_app(settings)
    add_users(app.state.room)
    with TestClient(app) as client:
        csrf = client.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        response = client.post(
            "/api/studies", files=[("files", ("a.dcm", dicom_bytes()))], headers={"X-CSRF-Token": csrf}
        )
        app.state.room.pool.wait_idle(timeout_s=120)
        study = client.get(f"/api/studies/{response.json()[0]['study_id']}").json()
    assert study["ai_status"] == "failed"
    assert not study["ai_results"]
