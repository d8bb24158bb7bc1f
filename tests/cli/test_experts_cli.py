"""`januscxr models list|convert|calibrate` for published experts, `read --classifier a,b`, and the reading room."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.labels import Finding
from januscxr.models import registry
from januscxr.models.base import ClassifierSpec
from januscxr.models.published import PUBLISHED_EXPERTS
from januscxr.records import read_output_schema
from tests.models.published_files import write_xrv_densenet
from tests.models.test_experts import BrightnessClassifier, _manifest

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> str:
    spec = ClassifierSpec("stub-bright", "1", (Finding.PNEUMONIA, Finding.PLEURAL_EFFUSION), 0, BrightnessClassifier)
    monkeypatch.setitem(registry._CLASSIFIERS, spec.model_id, spec)
    return spec.model_id


@pytest.fixture(scope="module")
def xrv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("xrv") / PUBLISHED_EXPERTS["densenet121-res224-rsna"].source_file
    write_xrv_densenet(path)
    return path


def test_models_list_says_the_weights_are_not_present_and_how_to_get_them(tmp_path):
    outcome = runner.invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    for model_id, expert in PUBLISHED_EXPERTS.items():
        assert f"{model_id}  (classifier, published expert, user's weights)" in outcome.stdout
        assert f"weights not present in {tmp_path / model_id}: download {expert.source_url}" in outcome.stdout
        assert f"`januscxr models convert {model_id} {expert.source_file}`" in outcome.stdout
        card = runner.invoke(app, ["models", "card", model_id])
        assert card.exit_code == 0 and card.stdout.startswith(f"# Model card: {model_id}")


def test_convert_then_read_combined_with_another_expert(xrv_file, tmp_path, write_cr):
    models = tmp_path / "models"
    outcome = runner.invoke(app, ["models", "convert", "densenet121-res224-rsna", str(xrv_file), "--dir", str(models)])
    assert outcome.exit_code == 0, outcome.output
    assert "727 tensors" in outcome.stdout and "pickled module torchxrayvision.models.DenseNet" in outcome.stdout
    listed = runner.invoke(app, ["models", "list", "--dir", str(models)]).stdout
    assert f"weights converted in {models / 'densenet121-res224-rsna'} (sha256 " in listed
    command = ["read", "--json", "--models-dir", str(models), str(write_cr())]
    outcome = runner.invoke(app, [*command, "--classifier", "densenet121-res224-rsna,fake-classifier"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    Draft202012Validator(read_output_schema()).validate(document)
    (result,) = document["results"]
    assert result["model"]["id"] == "densenet121-res224-rsna,fake-classifier"
    experts = {f["finding"]: f["experts"] for f in result["findings"]}
    assert experts["Pneumonia"] == ["densenet121-res224-rsna", "fake-classifier"]
    assert experts["Lung Opacity"] == ["densenet121-res224-rsna"]
    assert experts["Pneumothorax"] == ["fake-classifier"]
    alone = runner.invoke(app, [*command, "--classifier", "densenet121-res224-rsna"])
    assert alone.exit_code == 0, alone.output
    assert {f["finding"] for f in json.loads(alone.stdout)["results"][0]["findings"]} == {"Pneumonia", "Lung Opacity"}


def test_reading_without_converted_weights_says_how_to_get_them(tmp_path, write_cr):
    command = ["read", "--classifier", "chexnet-res224-nih", "--models-dir", str(tmp_path), str(write_cr())]
    outcome = runner.invoke(app, command)
    assert outcome.exit_code == 5
    assert "chexnet-res224-nih: weights not present" in outcome.output
    assert "januscxr models convert chexnet-res224-nih model.pth.tar" in outcome.output


def test_convert_refuses_a_pickle_that_runs_code(tmp_path):
    class RunsCode:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (eval, ("1 + 1",))

    torch.save({"state_dict": {}, "x": RunsCode()}, tmp_path / "model.pth.tar")
    outcome = runner.invoke(app, ["models", "convert", "chexnet-res224-nih", str(tmp_path / "model.pth.tar")])
    assert outcome.exit_code != 0
    assert "its pickle would call builtins.eval" in str(outcome.exception)


def test_calibrate_through_the_cli(stub, tmp_path):
    manifest = _manifest(tmp_path)
    command = ["models", "calibrate", stub, "--manifest", str(manifest), "--dir", str(tmp_path / "m")]
    outcome = runner.invoke(app, [*command, "--bootstrap", "100"])
    assert outcome.exit_code == 0, outcome.output
    assert (
        "Pneumonia: AUC " in outcome.stdout and "local calibration of stub-bright written (40 images)" in outcome.stdout
    )
    assert (tmp_path / "m" / "calibration" / "stub-bright.md").is_file()
    empty = _manifest(tmp_path, with_effusion_positive=False)
    outcome = runner.invoke(app, ["models", "calibrate", stub, "--manifest", str(empty), "--dir", str(tmp_path / "x")])
    assert "cannot calibrate Pleural Effusion (0 positives, 40 negatives)" in str(outcome.exception)


def test_the_reading_room_reads_with_combined_experts(stub, tmp_path):
    from januscxr.server import create_app
    from tests.server.conftest import PASSWORD, Reader, add_users, dicom_bytes, make_settings, upload_and_read

    app_ = create_app(make_settings(tmp_path, classifier=f"fake-classifier,{stub}"))
    add_users(app_.state.room)
    with TestClient(app_) as client:
        response = client.post("/api/session", json={"username": "rad", "password": PASSWORD})
        reader = Reader(client, response.json()["csrf_token"])
        (outcome,) = upload_and_read(reader, app_.state.room, ("chest.dcm", dicom_bytes()))
        study = client.get(f"/api/studies/{outcome['study_id']}").json()
    (image,) = study["images"]
    (ai,) = study["ai_results"]
    assert ai["model_id"] == "fake-classifier,stub-bright", image
    assert {f["finding"] for f in ai["findings"]} >= {"Pneumonia", "Pneumothorax", "Pleural Effusion"}


def test_the_experts_table_lists_every_listed_classifier():
    table = (Path(__file__).resolve().parents[2] / "docs" / "experts.md").read_text()
    for spec in registry.classifier_specs():
        if not spec.test_double:
            assert f"| `{spec.model_id}` |" in table, spec.model_id
