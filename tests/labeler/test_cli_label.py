"""``januscxr label`` end to end, through Typer's test runner."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "open.csv",
            'id,report\n1,Clear.\n2,"Effusion.\n3,Clear.\n',
            r"row 2 \(line 3\): not valid CSV \(a quote is opened",
        ),
        ("after.csv", 'id,report\n1,"Clear."x\n', r"row 1 \(line 2\): not valid CSV"),
        ("deep.jsonl", '{"report": "Clear."}\n' + "[" * 100_000 + "\n", "line 2: JSON nested too deeply"),
        ("digits.jsonl", '{"report": "Clear.", "id": ' + "9" * 5000 + "}\n", "line 1: unreadable JSON value"),
    ],
)
def test_malformed_tables_are_one_line_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, [str(source)])
    assert isinstance(result.exception, ReportInputError), result.exception
    assert str(source) in str(result.exception) and "\n" not in str(result.exception)
    assert re.search(message, str(result.exception))


def test_a_report_longer_than_csvs_default_field_limit_is_labelled(tmp_path: Path) -> None:
    source = tmp_path / "long.csv"
    long_report = "Small right pleural effusion. " + "Stable appearance of the chest. " * 6000  # ~190,000 characters
    source.write_text(f"id,report\n1,{long_report}\n", encoding="utf-8")
    result = CliRunner().invoke(app, [str(source)])
    assert result.exit_code == 0, result.output
    with (tmp_path / "long.labels.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["Pleural Effusion"] == "1"


def test_the_console_entry_prints_no_traceback(tmp_path: Path) -> None:
    source = tmp_path / "open.csv"
    source.write_text('id,report\n1,"' + "x" * 200_000 + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "januscxr.cli.app", "label", str(source)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 6
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith(f"error: {source}: row 1 (line 2): not valid CSV")
