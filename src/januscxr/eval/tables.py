"""Evaluation inputs read from disk: report texts, per-finding probabilities and 0/1 truth.

Reports: CSV or JSON Lines (``.jsonl``), one report per row, with an id column and a text
column (``id`` and ``report`` by default). Probabilities: CSV with an id column and one column
per finding, named as :class:`~januscxr.labels.Finding` values ("Pleural Effusion") or member
names ("PLEURAL_EFFUSION"), holding numbers in [0, 1]. Truth: the same layout holding 1, 0, or
an empty cell where the case has no label for that finding; such cases are left out of that
finding's metrics and counted. Anything else raises :class:`~januscxr.errors.EvaluationInputError`
naming the file, line and column.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from januscxr.errors import EvaluationInputError
from januscxr.labels import Finding


@dataclass(frozen=True)
class FindingTable:
    """Case ids and one float column per finding (NaN where a truth label is missing)."""

    source: str
    ids: tuple[str, ...]
    columns: dict[Finding, npt.NDArray[np.float64]]  # each (N,)

    def reordered(self, ids: Sequence[str]) -> FindingTable:
        """The same table with rows in the order of ``ids`` (all of which it must hold)."""
        index = {case: k for k, case in enumerate(self.ids)}
        rows = np.array([index[i] for i in ids], dtype=np.int64)
        return FindingTable(self.source, tuple(ids), {f: v[rows] for f, v in self.columns.items()})


def read_report_texts(path: str | Path, *, id_column: str = "id", text_column: str = "report") -> dict[str, str]:
    """Report id -> text from a CSV or JSONL file; empty or repeated ids and empty texts are errors."""
    path = Path(path)
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        rows = read_jsonl_rows(path)
    else:
        columns, rows = read_csv_rows(path)
        missing = [c for c in (id_column, text_column) if c not in columns]
        if missing:
            raise EvaluationInputError(
                f"{path}: missing column(s) {', '.join(map(repr, missing))}; header is {columns}"
            )
    texts: dict[str, str] = {}
    for line, row in rows:
        case = _cell(row, id_column, path, line)
        if case in texts:
            raise EvaluationInputError(
                f"{path}: line {line}, column {id_column!r} repeats id {case!r}; expected unique ids"
            )
        texts[case] = _cell(row, text_column, path, line)
    if not texts:
        raise EvaluationInputError(
            f"{path}: no reports; expected one row per report with {id_column!r} and {text_column!r}"
        )
    return texts


def read_finding_table(path: str | Path, *, id_column: str = "id", truth: bool = False) -> FindingTable:
    """A probability table (``truth=False``) or a 0/1 truth table (``truth=True``) from a CSV file."""
    path = Path(path)
    columns, rows = read_csv_rows(path)
    if id_column not in columns:
        raise EvaluationInputError(
            f"{path}: missing column {id_column!r}; expected an id column and one column per finding"
        )
    findings: dict[str, Finding] = {}
    for column in columns:
        if column == id_column:
            continue
        try:
            findings[column] = Finding.coerce(column)
        except ValueError as error:
            raise EvaluationInputError(f"{path}: column {column!r} is not a finding ({error})") from None
    if not findings:
        raise EvaluationInputError(f"{path}: no finding columns; expected columns named like 'Pleural Effusion'")
    if len(set(findings.values())) < len(findings):
        raise EvaluationInputError(f"{path}: two columns name the same finding: {', '.join(findings)}")
    ids: list[str] = []
    seen: set[str] = set()
    values = {f: np.empty(len(rows), dtype=np.float64) for f in findings.values()}
    for k, (line, row) in enumerate(rows):
        case = _cell(row, id_column, path, line)
        if case in seen:
            raise EvaluationInputError(
                f"{path}: line {line}, column {id_column!r} repeats id {case!r}; expected unique ids"
            )
        ids.append(case)
        seen.add(case)
        for column, finding in findings.items():
            values[finding][k] = _value(row.get(column), path, line, column, truth)
    if not ids:
        raise EvaluationInputError(f"{path}: no rows; expected one row per case")
    return FindingTable(str(path), tuple(ids), values)


def match_ids(first: Sequence[str], second: Sequence[str], first_name: str, second_name: str) -> None:
    """Raise unless both files hold exactly the same ids, listing a few that differ."""
    first_set, second_set = set(first), set(second)
    only_first = [i for i in first if i not in second_set]
    only_second = [i for i in second if i not in first_set]
    if only_first or only_second:
        raise EvaluationInputError(
            f"ids differ: {len(only_first)} in {first_name} only ({preview_ids(only_first)}), "
            f"{len(only_second)} in {second_name} only ({preview_ids(only_second)}); expected the same ids in both"
        )


def _value(raw: str | None, path: Path, line: int, column: str, truth: bool) -> float:
    """One probability or truth cell as a float (NaN for an empty truth cell)."""
    text = (raw or "").strip()
    if truth:
        if text == "":
            return math.nan
        if text in {"0", "1", "0.0", "1.0"}:
            return float(text)
        raise EvaluationInputError(f"{path}: line {line}, column {column!r} is {text!r}; expected 1, 0 or empty")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also rejects NaN and empty cells
        raise EvaluationInputError(
            f"{path}: line {line}, column {column!r} is {text!r}; expected a probability in [0, 1]"
        )
    return value


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str | None]]]]:
    """Header and (line number, row) pairs of a CSV file; blank lines are skipped.

    A row's number is the file line it starts on (the header is line 1), also when a quoted cell
    spans lines; a missing trailing cell reads as None, and a row with more cells than the header
    is an error.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = next(reader, [])
            rows: list[tuple[int, dict[str, str | None]]] = []
            start = reader.line_num + 1
            for cells in reader:
                if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
                    raise EvaluationInputError(
                        f"{path}: line {start} has {len(cells)} cells, more than the {len(columns)} header columns; "
                        "expected text holding commas in double quotes"
                    )
                if cells:
                    rows.append((start, {name: cells[k] if k < len(cells) else None for k, name in enumerate(columns)}))
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise EvaluationInputError(f"{path}: cannot read CSV ({error})") from error
    return columns, rows


def read_jsonl_rows(path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, object) pairs of a JSON Lines file; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationInputError(f"{path}: cannot read JSONL ({error})") from error
    rows = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            raise EvaluationInputError(f"{path}: line {number} is not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise EvaluationInputError(f"{path}: line {number} is a JSON {type(row).__name__}; expected an object")
        rows.append((number, {str(k): None if v is None else str(v) for k, v in row.items()}))
    return rows


def _cell(row: dict[str, str | None], column: str, path: Path, line: int) -> str:
    """A non-empty cell, else an error naming the file, line and column."""
    if column not in row:
        raise EvaluationInputError(f"{path}: line {line} has no column {column!r}")
    text = (row[column] or "").strip()
    if not text:
        raise EvaluationInputError(f"{path}: line {line}, column {column!r} is empty; expected a value")
    return text


def preview_ids(ids: Sequence[str], limit: int = 5) -> str:
    """The first few ids, quoted, for an error message."""
    shown = ", ".join(repr(i) for i in ids[:limit])
    return (shown + (", ..." if len(ids) > limit else "")) if ids else "none"
