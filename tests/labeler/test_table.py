"""Report tables in and out: CSV and JSONL, refused rows named by row and column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from januscxr.errors import JanusCxrError, ReportInputError
from januscxr.labeler import label_report
from januscxr.labeler.table import LABEL_COLUMNS, TableFormat, read_report_table, write_report_table


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_csv_round_trip(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", [["id", "report"], ["a", "Mild cardiomegaly."], ["b", "No effusion."]])
    table = read_report_table(source, "report")
    assert table.format is TableFormat.CSV and table.texts == ("Mild cardiomegaly.", "No effusion.")
    write_report_table(table, [label_report(t or "") for t in table.texts], tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "report", *LABEL_COLUMNS]
    assert (rows[0]["id"], rows[0]["Cardiomegaly"], rows[0]["Edema"], rows[1]["Pleural Effusion"]) == (
        "a",
        "1",
        "",
        "0",
    )


def test_jsonl_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "Possible pneumonia.", "n": 3}\n\n{"text": "Small pneumothorax."}\n', encoding="utf-8")
    table = read_report_table(source, "text")
    write_report_table(table, [label_report(t or "") for t in table.texts], tmp_path / "out.jsonl")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["n"] == 3 and records[0]["Pneumonia"] == -1 and records[0]["Edema"] is None
    assert records[1]["Pneumothorax"] == 1


def test_empty_reports_are_refused_or_kept_unlabelled(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", [["report"], ["Small effusion."], ["  "]])
    with pytest.raises(ReportInputError, match=r"row 2 \(line 3\), column 'report': empty report"):
        read_report_table(source, "report")
    table = read_report_table(source, "report", allow_empty=True)
    assert table.texts == ("Small effusion.", None) and table.empty_rows == 1
    write_report_table(table, [label_report("Small effusion."), None], tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(rows[1][c] == "" for c in LABEL_COLUMNS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.csv", b"id,text\n1,x\n", "no column 'report'; columns found: id, text"),
        ("in.csv", b"report,Edema\nx,1\n", "column 'Edema' already exists"),
        ("in.csv", b"report\nfine\n\xff\xfe broken\n", "line 3: not UTF-8"),
        ("in.csv", b"report\na,b\n", "row 1 (line 2): more fields than the header"),
        ("in.jsonl", b'{"report": "x"}\nnot json\n', "line 2: not JSON"),
        ("in.jsonl", b'["report"]\n', "line 1: expected a JSON object"),
        ("in.jsonl", b'{"text": "x"}\n', "line 1: no key 'report'"),
        ("in.jsonl", b'{"report": 5}\n', "line 1, column 'report': expected text, got int"),
        ("in.txt", b"report\n", "expected .csv or .jsonl"),
    ],
)
def test_bad_input_is_named(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReportInputError) as caught:
        read_report_table(path, "report")
    assert message in str(caught.value)
    assert isinstance(caught.value, JanusCxrError)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="cannot read"):
        read_report_table(tmp_path / "absent.csv", "report")
