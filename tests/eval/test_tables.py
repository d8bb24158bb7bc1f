"""Evaluation input files: report texts, probability and truth tables; bad input names line and column."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from januscxr.errors import EvaluationInputError
from januscxr.eval.tables import match_ids, read_finding_table, read_report_texts
from januscxr.labels import Finding


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reports_from_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "r.csv", 'id,report\na,"Heart normal.\nLungs clear."\nb,No effusion.\n')
    assert read_report_texts(csv_path) == {"a": "Heart normal.\nLungs clear.", "b": "No effusion."}
    lines = [json.dumps({"study": "a", "text": "Normal."}), "", json.dumps({"study": 7, "text": "Edema."})]
    jsonl = write(tmp_path / "r.jsonl", "\n".join(lines) + "\n")
    assert read_report_texts(jsonl, id_column="study", text_column="text") == {"a": "Normal.", "7": "Edema."}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.csv", "id,text\na,x\n", r"missing column\(s\) 'report'"),
        ("r.csv", "id,report\na,x\nb,  \n", r"line 3, column 'report' is empty"),
        ("r.csv", "id,report\na,x\na,y\n", r"line 3, column 'id' repeats id 'a'"),
        ("r.csv", "id,report\n", "no reports"),
        ("r.jsonl", '{"id": "a", "report": "x"}\n{"id": "b"}\n', r"line 2 has no column 'report'"),
        ("r.jsonl", '{"id": "a", "report": "x"}\nnot json\n', r"line 2 is not JSON"),
        ("r.jsonl", '["a", "x"]\n', r"line 1 is a JSON list; expected an object"),
    ],
)
def test_bad_report_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        read_report_texts(write(tmp_path / name, content))


def test_probability_and_truth_tables(tmp_path: Path) -> None:
    probs = read_finding_table(write(tmp_path / "p.csv", "id,Edema,pleural_effusion\na,0.1,0.9\nb,1,0\n"))
    assert probs.ids == ("a", "b")
    assert probs.columns[Finding.PLEURAL_EFFUSION].tolist() == [0.9, 0.0]
    truth = read_finding_table(write(tmp_path / "t.csv", "id,Edema\nb,1\na,\n"), truth=True)
    assert truth.columns[Finding.EDEMA][0] == 1.0 and math.isnan(truth.columns[Finding.EDEMA][1])
    assert truth.reordered(probs.ids).columns[Finding.EDEMA][1] == 1.0


@pytest.mark.parametrize(
    ("content", "truth", "message"),
    [
        ("case,Edema\na,0.1\n", False, r"missing column 'id'"),
        ("id,Edema,Bronchiectasis\na,0.1,0.2\n", False, r"column 'Bronchiectasis' is not a finding"),
        ("id,Edema\na,\n", False, r"line 2, column 'Edema' is ''; expected a probability"),
        ("id,Edema\na,1.2\n", False, r"line 2, column 'Edema' is '1.2'"),
        ("id,Edema\na,0.1\nb,high\n", False, r"line 3, column 'Edema' is 'high'"),
        ("id,Edema\na,-1\n", True, r"line 2, column 'Edema' is '-1'; expected 1, 0 or empty"),
        ("id,Edema,EDEMA\na,1,1\n", True, "two columns name the same finding"),
        ("id,Edema\n,1\n", True, r"line 2, column 'id' is empty"),
        ("id\na\n", True, "no finding columns"),
    ],
)
def test_bad_finding_tables(tmp_path: Path, content: str, truth: bool, message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        read_finding_table(write(tmp_path / "t.csv", content), truth=truth)


def test_ids_that_do_not_match_are_listed() -> None:
    match_ids(["a", "b"], ["b", "a"], "p.csv", "t.csv")
    with pytest.raises(EvaluationInputError, match=r"1 in p.csv only \('c'\), 0 in t.csv only \(none\)"):
        match_ids(["a", "c"], ["a"], "p.csv", "t.csv")
