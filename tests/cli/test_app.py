"""The root command: help without the heavy stacks, settings shared with the reading room."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from januscxr.cli.app import app

runner = CliRunner()


def test_help_imports_neither_torch_nor_the_web_stack_nor_the_database() -> None:
    # `januscxr --help` must answer at once: the command modules import their heavy parts when run.
    code = (
        "import sys; from januscxr.cli.app import app; from typer.main import get_command; get_command(app); "
        "heavy = {'torch', 'fastapi', 'sqlalchemy', 'pydicom', 'transformers'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_read_takes_its_models_from_the_shared_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_cr
) -> None:
    image = write_cr(name="a.dcm")
    config = tmp_path / "januscxr.toml"
    config.write_text('classifier = "no-such-classifier"\n')
    monkeypatch.setenv("JANUSCXR_CONFIG", str(config))
    outcome = runner.invoke(app, ["read", str(image)])
    assert outcome.exit_code != 0 and "no-such-classifier" in str(outcome.output) + str(outcome.exception)
    monkeypatch.setenv("JANUSCXR_CLASSIFIER", "fake-classifier")  # the environment wins over the file
    assert runner.invoke(app, ["read", str(image)]).exit_code == 0
    outcome = runner.invoke(app, ["read", "--classifier", "no-such-classifier", str(image)])  # a flag wins
    assert outcome.exit_code != 0
