"""The reads of a reader study: one CSV row per (case, reader, arm), validated cell by cell.

Columns (header names exactly as written; other columns are ignored and listed in
:attr:`ReadTable.ignored_columns`):

``case_id``            the case (study) read; any non-empty text
``reader_id``          the reader (radiologist); any non-empty text
``arm``                ``ai_assisted`` (read with januscxr's draft) or ``standard``
``reading_time_s``     seconds from opening the case to signing the report; > 0
``quality_score``      report quality rated by the expert panel, an integer 1 (poor) to 5 (excellent)
``agreement_score``    agreement of the read with the expert reference standard, any finite number
                       (a 1-5 Likert score in the Janus-Pro-CXR trial); analysed on its own scale
``expert_preference``  which arm's report the expert panel preferred for this case:
                       ``ai_assisted``, ``standard`` or ``no_preference``; the same on every row of a case
``n_findings``         number of positive findings in the case's reference standard; an integer >= 0
``synthetic``          optional: ``true`` on rows made by :mod:`januscxr.eval.synthetic_study`

Every problem raises :class:`~januscxr.errors.EvaluationInputError` naming the file, line and
column; no row is dropped.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

from januscxr.errors import EvaluationInputError


class Arm(StrEnum):
    """The reading condition of a read."""

    AI_ASSISTED = "ai_assisted"
    STANDARD = "standard"


class Preference(StrEnum):
    """The expert panel's preferred report for a case."""

    AI_ASSISTED = "ai_assisted"
    STANDARD = "standard"
    NO_PREFERENCE = "no_preference"


@dataclass(frozen=True)
class Read:
    """One reader's read of one case in one arm."""

    case_id: str
    reader_id: str
    arm: Arm
    reading_time_s: float
    quality_score: int
    agreement_score: float
    expert_preference: Preference
    n_findings: int
    synthetic: bool = False


REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Read) if f.name != "synthetic")
ALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Read))


@dataclass(frozen=True)
class ReadTable:
    """The reads of a CSV file and the columns that were not used."""

    reads: tuple[Read, ...]
    source: str
    ignored_columns: tuple[str, ...] = ()

    @property
    def synthetic(self) -> bool:
        """Whether any read is marked synthetic."""
        return any(r.synthetic for r in self.reads)


def read_reads(path: str | Path) -> ReadTable:
    """Read and validate a reader-study CSV.

    Parameters
    ----------
    path : path
        CSV with the columns listed in this module's docstring, UTF-8, comma-separated.

    Returns
    -------
    ReadTable

    Raises
    ------
    EvaluationInputError
        Missing columns, an empty or invalid cell (file, line and column named), a read
        repeated for the same case, reader and arm, a case whose rows disagree on the expert
        preference, or no rows.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise EvaluationInputError(f"{path}: cannot read reads CSV ({error})") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise EvaluationInputError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}"
        )
    if not rows:
        raise EvaluationInputError(f"{path}: no reads; expected one row per case, reader and arm")
    reads = tuple(_parse_row(row, path, line) for line, row in enumerate(rows, start=2))
    check_reads(reads, source=str(path))
    return ReadTable(reads=reads, source=str(path), ignored_columns=tuple(c for c in columns if c not in ALL_COLUMNS))


def check_reads(reads: Sequence[Read], *, source: str = "reads") -> None:
    """Raise on repeated (case, reader, arm) reads and on cases whose preference differs by row."""
    seen: dict[tuple[str, str, Arm], int] = {}
    preference: dict[str, tuple[Preference, int]] = {}
    for line, read in enumerate(reads, start=2):
        key = (read.case_id, read.reader_id, read.arm)
        if key in seen:
            raise EvaluationInputError(
                f"{source}: line {line} repeats the read of case {read.case_id!r} by reader {read.reader_id!r} "
                f"in arm {read.arm.value!r} (first at line {seen[key]}); expected one read per case, reader and arm"
            )
        seen[key] = line
        first = preference.setdefault(read.case_id, (read.expert_preference, line))
        if first[0] is not read.expert_preference:
            raise EvaluationInputError(
                f"{source}: line {line}, column 'expert_preference' is {read.expert_preference.value!r} but line {first[1]} "
                f"says {first[0].value!r} for case {read.case_id!r}; expected one preference per case"
            )


def write_reads(reads: Sequence[Read], path: str | Path) -> Path:
    """Write reads as a CSV that :func:`read_reads` reads back; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ALL_COLUMNS)
        for r in reads:
            writer.writerow(
                [
                    r.case_id,
                    r.reader_id,
                    r.arm.value,
                    f"{r.reading_time_s:.1f}",
                    r.quality_score,
                    f"{r.agreement_score:g}",
                    r.expert_preference.value,
                    r.n_findings,
                    "true" if r.synthetic else "false",
                ]
            )
    return path


def _parse_row(row: dict[str, str | None], path: Path, line: int) -> Read:
    """One CSV row as a Read; errors name the file, line and column."""

    def cell(column: str) -> str:
        text = (row.get(column) or "").strip()
        if not text:
            raise EvaluationInputError(f"{path}: line {line}, column {column!r} is empty; expected a value")
        return text

    def number(column: str, valid: Callable[[float], bool], expected: str) -> float:
        text = cell(column)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not valid(value):
            raise EvaluationInputError(f"{path}: line {line}, column {column!r} is {text!r}; expected {expected}")
        return value

    def choice(column: str, kind: type[Arm] | type[Preference]) -> str:
        text = cell(column)
        if text not in {m.value for m in kind}:
            expected = " or ".join(repr(m.value) for m in kind)
            raise EvaluationInputError(f"{path}: line {line}, column {column!r} is {text!r}; expected {expected}")
        return text

    synthetic = (row.get("synthetic") or "false").strip().lower()
    if synthetic not in {"true", "false", "1", "0"}:
        raise EvaluationInputError(f"{path}: line {line}, column 'synthetic' is {synthetic!r}; expected true or false")
    return Read(
        case_id=cell("case_id"),
        reader_id=cell("reader_id"),
        arm=Arm(choice("arm", Arm)),
        reading_time_s=number("reading_time_s", lambda v: v > 0, "seconds > 0"),
        quality_score=int(number("quality_score", lambda v: v in {1, 2, 3, 4, 5}, "an integer 1 to 5")),
        agreement_score=number("agreement_score", lambda v: True, "a finite number"),
        expert_preference=Preference(choice("expert_preference", Preference)),
        n_findings=int(number("n_findings", lambda v: v >= 0 and v == int(v), "an integer >= 0")),
        synthetic=synthetic in {"true", "1"},
    )
