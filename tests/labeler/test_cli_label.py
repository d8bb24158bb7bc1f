"""``januscxr label`` end to end, through Typer's test runner."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from januscxr.cli.label import label_command
from januscxr.errors import ReportInputError

app = typer.Typer()
app.command()(label_command)


def test_label_writes_a_labelled_copy(tmp_path: Path) -> None:
    source = tmp_path / "reports.csv"
    source.write_text("id,report\n1,Mild cardiomegaly.\n2,No acute disease.\n", encoding="utf-8")
    result = CliRunner().invoke(app, [str(source)])
    assert result.exit_code == 0, result.output
    assert "2 of 2 reports labelled" in result.output
    with (tmp_path / "reports.labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["Cardiomegaly"] for r in rows] == ["1", ""] and [r["No Finding"] for r in rows] == ["0", "1"]


def test_empty_rows_are_counted_when_allowed(tmp_path: Path) -> None:
    source = tmp_path / "reports.jsonl"
    source.write_text('{"text": "Small effusion."}\n{"text": ""}\n', encoding="utf-8")
    out = tmp_path / "out" / "labels.jsonl"
    result = CliRunner().invoke(app, [str(source), "--text-column", "text", "--allow-empty", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 of 2 reports labelled; 1 empty report(s) left unlabelled" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_bad_input_raises_the_domain_error(tmp_path: Path) -> None:
    source = tmp_path / "reports.csv"
    source.write_text("id,report\n1,\n", encoding="utf-8")
    result = CliRunner().invoke(app, [str(source)])
    assert isinstance(result.exception, ReportInputError)
    assert "row 1 (line 2), column 'report'" in str(result.exception)


def test_the_input_is_never_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "reports.csv"
    source.write_text("report\nSmall effusion.\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="refusing to overwrite"):
        label_command(source, out=source)
