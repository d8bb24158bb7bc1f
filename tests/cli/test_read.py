"""`januscxr read` and `januscxr models list` through the real CLI."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from PIL import Image as PILImage
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.errors import UnknownModelError
from januscxr.records import read_output_schema

runner = CliRunner()


def test_summary_lists_critical_flags_first(write_cr):
    outcome = runner.invoke(app, ["read", "--classifier", "fake-classifier", str(write_cr())])
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    flagged = [line for line in lines if line.startswith(" !")]
    assert flagged[0].split()[1] == "Pneumothorax"
    assert "FINDINGS:" in outcome.stdout and "IMPRESSION:" in outcome.stdout
    assert "decision support, not a diagnosis" in outcome.stdout


def test_json_validates_against_the_shipped_schema(write_cr, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    outcome = runner.invoke(app, ["read", "--json", "--classifier", "fake-classifier", str(write_cr()), str(bad)])
    assert outcome.exit_code == 3
    document = json.loads(outcome.stdout)
    Draft202012Validator(read_output_schema()).validate(document)
    assert len(document["results"]) == 1 and document["errors"][0]["error"] == "ImageReadError"
    assert document["results"][0]["findings"][0]["finding"] == "Pneumothorax"


def test_json_of_the_bundled_model_validates(write_cr):
    outcome = runner.invoke(app, ["read", "--json", str(write_cr())])
    assert outcome.exit_code == 0, outcome.output
    Draft202012Validator(read_output_schema()).validate(json.loads(outcome.stdout))


def test_heatmaps_written_as_png_overlays(write_cr, tmp_path):
    folder = tmp_path / "maps"
    outcome = runner.invoke(
        app,
        [
            "read",
            "--json",
            "--classifier",
            "fake-classifier",
            "--heatmaps",
            str(folder),
            str(write_cr(name="chest.dcm")),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    written = json.loads(outcome.stdout)["results"][0]["heatmaps"]
    assert set(written) == {"Pneumothorax", "Pleural Effusion"}
    with PILImage.open(written["Pneumothorax"]) as overlay:
        assert overlay.mode == "RGB" and overlay.size == (120, 128)


def test_directory_input_reads_every_image(write_cr, tmp_path):
    write_cr(name="a.dcm")
    write_cr(name="b.dcm")
    outcome = runner.invoke(app, ["read", "--json", "--classifier", "fake-classifier", str(tmp_path)])
    assert len(json.loads(outcome.stdout)["results"]) == 2


def test_no_images_is_a_usage_error(tmp_path):
    outcome = runner.invoke(app, ["read", str(tmp_path)])
    assert outcome.exit_code == 2


def test_shared_fixtures_read(shared_data):
    outcome = runner.invoke(
        app,
        [
            "read",
            str(shared_data / "fixtures" / "dicom" / "RG1_J2KR.dcm"),
            str(shared_data / "fixtures" / "janus_pro_cxr_samples"),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.count("IMPRESSION:") == 11


def test_models_list_shows_cards_and_hides_test_doubles():
    outcome = runner.invoke(app, ["models", "list"])
    assert outcome.exit_code == 0
    assert "cxrnet-res128-kermany-nih  (classifier, bundled)" in outcome.stdout
    assert "cxrgate-res64-kermany-nih  (chest-radiograph gate, bundled)" in outcome.stdout
    assert "card: januscxr models card cxrnet-res128-kermany-nih" in outcome.stdout
    assert "fake" not in outcome.stdout


def test_models_card_works_for_every_listed_name():
    listed = runner.invoke(app, ["models", "list"]).stdout
    names = [line.split()[0] for line in listed.splitlines() if line and not line.startswith(" ")]
    assert {"cxrnet-res128-kermany-nih", "findings-composer", "janus-pro-cxr-final"} <= set(names)
    for name in names:
        card = runner.invoke(app, ["models", "card", name])
        assert card.exit_code == 0, card.output
        assert card.stdout.startswith(f"# Model card: {name}"), name


def test_models_card_of_an_unknown_name_lists_the_names():
    outcome = runner.invoke(app, ["models", "card", "nope"])  # main() turns this into exit 5
    assert isinstance(outcome.exception, UnknownModelError)
    assert "no model named 'nope'; expected one of: cxrnet-res128-kermany-nih" in str(outcome.exception)


def test_summary_prints_the_digits_that_decide_a_flag():
    import numpy as np

    from januscxr.cli.summary import render_summary
    from januscxr.labels import Finding
    from januscxr.types import DraftReport, FindingResult, Image, Prediction, ReadResult

    findings = {
        Finding.CARDIOMEGALY: FindingResult(Finding.CARDIOMEGALY, 0.0499, 0.05),
        Finding.PNEUMONIA: FindingResult(
            Finding.PNEUMONIA, 0.6305188622528762, 0.6305188622528762, urgent_threshold=0.6305188622528762
        ),
        Finding.PLEURAL_EFFUSION: FindingResult(Finding.PLEURAL_EFFUSION, 0.7, 0.14, urgent_threshold=0.8),
    }
    result = ReadResult(
        Image(np.zeros((8, 8), np.float32), "x.png"),
        Prediction(findings, "m", "0"),
        DraftReport("f", "i", "findings-composer"),
        {"total_ms": 1.0},
    )
    summary = render_summary(result, {}).splitlines()
    lines = {f.value.split()[0]: next(line for line in summary if f.value in line) for f in findings}
    assert "p=0.0499 (threshold 0.0500, never urgent)  -" in lines["Cardiomegaly"]
    assert (
        lines["Pneumonia"].startswith(" ! ")
        and "p=0.631 (threshold 0.631, urgent 0.631)  FLAGGED URGENT" in lines["Pneumonia"]
    )
    assert (
        lines["Pleural"].startswith(" * ") and "p=0.700 (threshold 0.140, urgent 0.800)  POSSIBLE" in lines["Pleural"]
    )
