"""`januscxr read --reporter janus-...` and `januscxr models convert|verify` through the real CLI."""

from __future__ import annotations

import json
import shutil

from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.records import read_output_schema
from tests.models.janus_tiny import write_tiny_original

runner = CliRunner()


def test_without_weights_the_read_says_what_is_missing_and_how_to_get_it(write_cr, tmp_path):
    outcome = runner.invoke(
        app, ["read", "--reporter", "janus-pro-cxr-final", "--models-dir", str(tmp_path), str(write_cr())]
    )
    assert outcome.exit_code == 5
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    assert "Traceback" not in outcome.output
    error = outcome.stderr.strip()
    assert error.count("\n") == 0 and error.startswith("error: janus-pro-cxr-final: no weights in")
    assert "januscxr models pull janus-pro-cxr-final" in error and "ZrH42/Janus-Pro-CXR-Final" in error
    assert outcome.stdout == ""


def test_unknown_reporter_lists_the_registered_ones(write_cr):
    outcome = runner.invoke(app, ["read", "--reporter", "janus-pro", str(write_cr())])
    assert outcome.exit_code == 5
    assert "registered: findings-composer, janus-pro-1b, janus-pro-7b, janus-pro-cxr-final" in outcome.stderr


def _install(tiny_janus_dir, models_dir, name="janus-pro-cxr-final"):
    shutil.copytree(tiny_janus_dir, models_dir / name)


def test_read_with_a_janus_reporter_streams_and_checks_consistency(write_cr, tmp_path, tiny_janus_dir):
    _install(tiny_janus_dir, tmp_path)
    command = ["read", "--reporter", "janus-pro-cxr-final", "--classifier", "fake-classifier"]
    command += ["--models-dir", str(tmp_path), "--max-new-tokens", "12", "--stream", str(write_cr())]
    outcome = runner.invoke(app, command)
    assert outcome.exit_code == 0, outcome.output
    assert "draft by janus-pro-cxr-final, for a radiologist to review" in outcome.stdout
    assert "IMPRESSION:" in outcome.stdout
    # the tiny random model says nothing of the flagged pneumothorax: the guard reports it
    assert "! report omits Pneumothorax (classifier p=0.920, threshold 0.300)" in outcome.stdout


def test_json_of_a_janus_read_validates(write_cr, tmp_path, tiny_janus_dir, monkeypatch):
    _install(tiny_janus_dir, tmp_path, "janus-pro-cxr-zero")
    monkeypatch.setenv("JANUSCXR_MODELS_DIR", str(tmp_path))
    command = ["read", "--json", "--reporter", "janus-pro-cxr-zero", "--classifier", "fake-classifier"]
    outcome = runner.invoke(app, [*command, "--max-new-tokens", "8", "--stream", str(write_cr())])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    Draft202012Validator(read_output_schema()).validate(document)
    result = document["results"][0]
    assert result["report"]["reporter"] == "janus-pro-cxr-zero"
    assert {"finding": "Pneumothorax", "kind": "report_omits"}.items() <= result["discordances"][0].items()


def test_models_convert_and_verify(tmp_path):
    write_tiny_original(tmp_path / "source")
    target = tmp_path / "models" / "janus-pro-1b"
    outcome = runner.invoke(app, ["models", "convert", str(tmp_path / "source"), str(target), "--drop-generation"])
    assert outcome.exit_code == 0, outcome.output
    assert "16 image tokens; image-generation modules dropped" in outcome.stdout
    verify = ["models", "verify", "janus-pro-1b", "--dir", str(tmp_path / "models")]
    assert runner.invoke(app, [*verify, "--record"]).exit_code == 0
    outcome = runner.invoke(app, verify)
    assert outcome.exit_code == 0 and "7 files match their sha256 (revision not pinned)" in outcome.stdout


def test_models_list_shows_the_reporters():
    outcome = runner.invoke(app, ["models", "list"])
    assert outcome.exit_code == 0
    assert "janus-pro-cxr-final  (reporter, 1B parameters)" in outcome.stdout
    assert "https://huggingface.co/ZrH42/Janus-Pro-CXR-Final (revision not pinned)" in outcome.stdout


def test_batched_reads_draft_the_same_as_one_by_one(write_cr, tmp_path, tiny_janus_dir):
    _install(tiny_janus_dir, tmp_path)
    for seed in range(3):
        write_cr(name=f"study{seed}.dcm", PatientAge=f"0{40 + seed}Y")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    command = ["read", "--json", "--reporter", "janus-pro-cxr-final", "--classifier", "fake-classifier"]
    command += ["--models-dir", str(tmp_path), "--max-new-tokens", "10", str(tmp_path)]
    alone = json.loads(runner.invoke(app, command).stdout)
    together = json.loads(runner.invoke(app, [*command, "--batch-size", "3"]).stdout)
    assert [r["report"] for r in together["results"]] == [r["report"] for r in alone["results"]]
    assert len(together["results"]) == 3 and together["errors"][0]["error"] == "ImageReadError"
