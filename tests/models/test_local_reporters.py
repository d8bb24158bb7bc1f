"""Reporters trained here, found by the registry from ``<models dir>/<name>/januscxr-reporter.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.errors import ConfigurationError, ModelError, UnknownModelError
from januscxr.models.registry import (
    COMPOSER_NAME,
    LOCAL_HUB,
    REPORTER_FILE,
    check_reporter_name,
    find_reporter_spec,
    local_reporter_specs,
    reporter_card_text,
)
from januscxr.pipeline import load_reporter
from januscxr.report.compose import REPORTER_NAME


def _describe(models: Path, folder: str, **entry: object) -> Path:
    """Write a reporter description as `januscxr train reporter` does, with ``entry`` overriding its fields."""
    path = models / folder / REPORTER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = {
        "model_id": folder,
        "layout": "hf",
        "description": "janus-pro-cxr-final fine-tuned with LoRA on 40 images of site.csv",
        "based_on": "janus-pro-cxr-final",
        "licence": "as the base checkpoint's",
        "parameters": "1B",
        "model_card": "MODEL_CARD.md",
    }
    path.write_text(json.dumps(fields | entry), encoding="utf-8")
    (path.parent / "MODEL_CARD.md").write_text(f"# Model card: {folder}\n\n| | |\n|---|---|\n| model id | x |\n")
    return path


def test_a_trained_reporter_is_found_by_name_with_its_own_card(tmp_path: Path) -> None:
    _describe(tmp_path, "janus-pro-cxr-mysite")
    spec = find_reporter_spec("janus-pro-cxr-mysite", tmp_path)
    assert (spec.hub_repo, spec.layout, spec.based_on) == (LOCAL_HUB, "hf", "janus-pro-cxr-final")
    assert reporter_card_text(spec).startswith("# Model card: janus-pro-cxr-mysite\n")
    assert local_reporter_specs(tmp_path).specs == [spec]
    assert find_reporter_spec("janus-pro-cxr-final", tmp_path).hub_repo == "ZrH42/Janus-Pro-CXR-Final"


def test_malformed_foreign_and_shadowing_descriptions_are_one_line_errors(tmp_path: Path) -> None:
    _describe(tmp_path, "good-site")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / REPORTER_FILE).write_text("{not json")
    _describe(tmp_path, "moved-site", model_id="other-site")
    _describe(tmp_path, "janus-pro-1b")  # claims a published model's name
    _describe(tmp_path, "list-site", description=["not", "text"])
    found = local_reporter_specs(tmp_path)
    assert [s.model_id for s in found.specs] == ["good-site"]
    problems = {Path(str(p).split(":")[0]).parent.name: str(p) for p in found.problems}
    assert set(problems) == {"broken", "moved-site", "janus-pro-1b", "list-site"}
    assert all("\n" not in message and REPORTER_FILE in message for message in problems.values())
    assert "not readable as JSON" in problems["broken"]
    assert "model_id 'other-site'" in problems["moved-site"]
    assert "is a published model's" in problems["janus-pro-1b"]
    assert "no text for description" in problems["list-site"]
    assert find_reporter_spec("janus-pro-1b", tmp_path).hub_repo == "deepseek-ai/Janus-Pro-1B"  # never shadowed
    with pytest.raises(ModelError, match="broken/januscxr-reporter.json: not readable as JSON"):
        load_reporter("broken", models_dir=tmp_path)

    listed = CliRunner().invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "good-site  (reporter, 1B parameters)" in listed.stdout and "moved-site" not in listed.stdout
    assert len(listed.stderr.strip().splitlines()) == 4
    assert all(line.startswith("error: ") for line in listed.stderr.strip().splitlines())


def test_names_that_are_taken_or_unsafe_are_refused(tmp_path: Path) -> None:
    assert REPORTER_NAME == COMPOSER_NAME  # the registry spells it itself: it sits below the report layer
    for taken in ("janus-pro-cxr-final", REPORTER_NAME):
        with pytest.raises(ConfigurationError, match="is a published model's"):
            check_reporter_name(taken)
    with pytest.raises(ConfigurationError, match="expected lower-case letters"):
        check_reporter_name("../elsewhere")
    _describe(tmp_path, "good-site")
    with pytest.raises(UnknownModelError, match="registered: findings-composer, .*janus-pro-cxr-zero, good-site"):
        find_reporter_spec("../good-site", tmp_path)
