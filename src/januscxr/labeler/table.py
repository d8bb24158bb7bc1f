"""Tables of reports in and out: CSV or JSONL, the labels added as one column per finding.

Labels use CheXpert's encoding: 1 positive, 0 negative, -1 uncertain, blank (CSV) or
``null`` (JSONL) not mentioned. Every input row comes back out, in order; a row whose report
is empty is refused, or, when allowed, kept with blank labels and counted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from januscxr.errors import ReportInputError
from januscxr.labeler.annotation import ReportLabels
from januscxr.labels import CHEXPERT_14

LABEL_COLUMNS: tuple[str, ...] = tuple(f.value for f in CHEXPERT_14)

# Longest CSV field accepted, in characters. Python's csv module stops at 131,072, which a long
# report with pasted history can pass; 10 million is beyond any report and still bounds memory.
# The limit is process-wide; it is only ever raised here.
MAX_FIELD_CHARS = 10_000_000
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))


class TableFormat(StrEnum):
    """File formats of report tables, by suffix."""

    CSV = "csv"
    JSONL = "jsonl"

    @classmethod
    def from_path(cls, path: Path) -> TableFormat:
        """The format a file's suffix names (``.csv``; ``.jsonl`` or ``.ndjson``)."""
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return cls.CSV
        if suffix in {".jsonl", ".ndjson"}:
            return cls.JSONL
        raise ReportInputError(f"{path}: unknown table format {suffix or '(no suffix)'!r}; expected .csv or .jsonl")


@dataclass(frozen=True)
class ReportTable:
    """The rows of a report table as read, and where each report's text sits.

    ``texts`` holds ``None`` for a row whose report is empty (kept when allowed).
    """

    path: Path
    format: TableFormat
    columns: tuple[str, ...]
    rows: tuple[dict[str, object], ...]
    texts: tuple[str | None, ...]
    text_column: str

    @property
    def empty_rows(self) -> int:
        """How many rows carry no report text."""
        return sum(text is None for text in self.texts)


def read_report_table(path: Path, text_column: str, *, allow_empty: bool = False) -> ReportTable:
    """Read a CSV or JSONL table of reports.

    Parameters
    ----------
    path
        ``.csv`` (with a header row) or ``.jsonl`` (one JSON object per line), UTF-8.
    text_column
        The column (CSV) or key (JSONL) holding the report text.
    allow_empty
        Keep rows whose report is empty (their labels stay blank) instead of refusing them.

    Returns
    -------
    ReportTable
        The rows, in order.

    Raises
    ------
    ReportInputError
        The file is not UTF-8, a row is malformed, the text column is missing, a label column
        already exists, or (unless ``allow_empty``) a report is empty. The message names the
        row and column.
    """
    table_format = TableFormat.from_path(path)
    content = _read_utf8(path)
    if table_format is TableFormat.CSV:
        columns, rows, where = _parse_csv(path, content, text_column)
    else:
        columns, rows, where = _parse_jsonl(path, content, text_column)
    clashing = [c for c in LABEL_COLUMNS if c in columns]
    if clashing:
        raise ReportInputError(f"{path}: column {clashing[0]!r} already exists; the labels would overwrite it")
    texts: list[str | None] = []
    for row, place in zip(rows, where, strict=True):
        value = row.get(text_column)
        if value is not None and not isinstance(value, str):
            raise ReportInputError(
                f"{path}: {place}, column {text_column!r}: expected text, got {type(value).__name__}"
            )
        text = value.strip() if isinstance(value, str) else ""
        if not text and not allow_empty:
            raise ReportInputError(
                f"{path}: {place}, column {text_column!r}: empty report (allow empty reports to keep it)"
            )
        texts.append(text or None)
    return ReportTable(path, table_format, tuple(columns), tuple(rows), tuple(texts), text_column)


def write_report_table(table: ReportTable, labels: Sequence[ReportLabels | None], out: Path) -> None:
    """Write the table back out, in its own format, with a label column per finding.

    Parameters
    ----------
    table
        The table as read.
    labels
        One entry per row, ``None`` for a row left unlabelled.
    out
        Destination file.
    """
    if len(labels) != len(table.rows):
        raise ValueError(f"{len(labels)} label sets for {len(table.rows)} rows")
    records = [row | _codes(row_labels) for row, row_labels in zip(table.rows, labels, strict=True)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if table.format is TableFormat.CSV:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*table.columns, *LABEL_COLUMNS])
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in record.items()} for record in records)
    else:
        with out.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def _codes(labels: ReportLabels | None) -> dict[str, object]:
    """Finding name -> CheXpert code, all ``None`` for an unlabelled row."""
    if labels is None:
        return dict.fromkeys(LABEL_COLUMNS)
    return dict(labels.codes())


def _read_utf8(path: Path) -> str:
    """The file as text; a decoding error names the line it sits on."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReportInputError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ReportInputError(f"{path}: line {line}: not UTF-8 text (byte {error.start})") from None


def _parse_csv(path: Path, content: str, text_column: str) -> tuple[list[str], list[dict[str, object]], list[str]]:
    """Header, rows and a "row N (line M)" locator per row.

    ``strict`` parsing refuses an unbalanced quote (which would otherwise swallow the rest of
    the file into one field) and text after a closing quote.
    """
    reader = csv.DictReader(io.StringIO(content, newline=""), strict=True)
    rows: list[dict[str, object]] = []
    where: list[str] = []
    line = 1  # where the row being read starts
    try:
        columns = list(reader.fieldnames or [])
        line = reader.line_num + 1
        if text_column not in columns:
            found = ", ".join(columns) or "none"
            raise ReportInputError(f"{path}: no column {text_column!r}; columns found: {found}")
        for number, row in enumerate(reader, start=1):
            if None in row:
                raise ReportInputError(f"{path}: row {number} (line {line}): more fields than the header")
            rows.append(dict(row))
            where.append(f"row {number} (line {reader.line_num})")
            line = reader.line_num + 1
    except csv.Error as error:
        place = "header" if line == 1 else f"row {len(rows) + 1}"
        raise ReportInputError(f"{path}: {place} (line {line}): not valid CSV ({_csv_reason(error)})") from None
    return columns, rows, where


def _csv_reason(error: csv.Error) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_FIELD_CHARS:,} characters"
    if "unexpected end of data" in text:
        return "a quote is opened and never closed"
    return text


def _parse_jsonl(path: Path, content: str, text_column: str) -> tuple[list[str], list[dict[str, object]], list[str]]:
    """Keys (in order of first appearance), rows and a "line N" locator per row."""
    columns: dict[str, None] = {}
    rows: list[dict[str, object]] = []
    where: list[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ReportInputError(f"{path}: line {number}: not JSON ({error.msg})") from None
        except RecursionError:
            raise ReportInputError(f"{path}: line {number}: JSON nested too deeply; expected one flat object") from None
        except ValueError as error:  # an integer of more than 4300 digits
            raise ReportInputError(f"{path}: line {number}: unreadable JSON value ({error})") from None
        if not isinstance(row, dict):
            raise ReportInputError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
        if text_column not in row:
            raise ReportInputError(f"{path}: line {number}: no key {text_column!r}")
        columns.update(dict.fromkeys(row))
        rows.append(row)
        where.append(f"line {number}")
    return list(columns), rows, where
