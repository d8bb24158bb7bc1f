"""The study mode's reads: which are in the export, the reads CSV, and the expert panel's scores.

No trial read is lost silently: :func:`reads_csv` refuses, naming the reads, when a signed
study-mode read cannot be written (see :class:`januscxr.storage.reading.StudyRead`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from januscxr.errors import ConflictError, EvaluationInputError
from januscxr.eval.reads import ALL_COLUMNS
from januscxr.server.deps import Principal, ReadingRoom
from januscxr.server.schemas import CaseReferenceUpdate, ReadScoresUpdate, StudyReadPublic
from januscxr.storage import audit, reading
from januscxr.storage.reading import StudyRead

MAX_NAMED = 10  # reads named in the export's refusal; the rest are counted
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ScoredCase:
    """A case of the scoring page: its reference and its signed study-mode reads."""

    study_id: int
    case_id: str
    expert_preference: str | None
    n_findings: int | None
    reads: list[StudyRead]


def study_reads(room: ReadingRoom) -> list[StudyRead]:
    """Every signed study-mode read, each saying whether the reads CSV holds it."""
    with room.db.read() as session:
        return reading.study_reads(session)


def exported_reads(room: ReadingRoom) -> list[StudyReadPublic]:
    """The reads the reads CSV holds, as the API shows them."""
    return [StudyReadPublic.model_validate(vars(r)) for r in study_reads(room) if r.in_export]


def scored_cases(room: ReadingRoom) -> list[ScoredCase]:
    """The cases with signed study-mode reads, in the order of their first read."""
    cases: dict[int, ScoredCase] = {}
    for read in study_reads(room):
        case = cases.setdefault(
            read.study_id, ScoredCase(read.study_id, read.case_id, read.expert_preference, read.n_findings, [])
        )
        case.reads.append(read)
    return list(cases.values())


def reads_csv(room: ReadingRoom) -> str:
    """The study mode's reads in the columns of :mod:`januscxr.eval.reads` (panel scores blank
    until entered); raises ConflictError naming the reads when any signed read would be left out."""
    reads = study_reads(room)
    left_out = [r for r in reads if not r.in_export]
    if left_out:
        raise ConflictError(refusal(left_out))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ALL_COLUMNS)
    for read in reads:
        row = {**vars(read), "synthetic": "false"}
        writer.writerow(["" if row.get(c) is None else row[c] for c in ALL_COLUMNS])
    return buffer.getvalue()


def refusal(left_out: list[StudyRead]) -> str:
    """One line naming the reads the CSV cannot hold: reader, case and why."""
    named = "; ".join(f"{r.reader_id} on case {r.case_id}: {r.missing}" for r in left_out[:MAX_NAMED])
    more = f"; and {len(left_out) - MAX_NAMED} more" if len(left_out) > MAX_NAMED else ""
    return (
        f"reads.csv would leave out {len(left_out)} signed study-mode read(s) ({named}{more}); "
        "expected every signed read to have a study-mode reading session with an arm and a signed time"
    )


def score_read(room: ReadingRoom, principal: Principal, reading_id: int, scores: ReadScoresUpdate) -> None:
    """Store the expert panel's scores of one read, audited with the scores (numbers only)."""
    with room.db.write() as session:
        reading.rate_read(session, reading_id, **scores.model_dump())
        detail = {"reading_id": reading_id, **scores.model_dump()}
        audit.record_event(session, "score_read", user=principal.user, detail=detail)


def set_reference(room: ReadingRoom, principal: Principal, study_id: int, reference: CaseReferenceUpdate) -> None:
    """Store the expert panel's preference and reference finding count of one case, audited."""
    preference, n_findings = reference.expert_preference.value, reference.n_findings
    with room.db.write() as session:
        reading.set_case_reference(session, study_id, expert_preference=preference, n_findings=n_findings)
        detail = {"expert_preference": preference, "n_findings": n_findings}
        audit.record_event(session, "score_case", user=principal.user, study_id=study_id, detail=detail)


_EXPECTED = {
    "quality_score": "an integer from 1 (poor) to 5 (excellent)",
    "agreement_score": "a finite number",
    "expert_preference": "ai_assisted, standard or no_preference",
    "n_findings": "an integer from 0 to 1000",
}


def parse_form(model: type[M], values: Mapping[str, str], *, where: str) -> M:
    """A form's values as ``model``; EvaluationInputError (one line: field, value, expectation) when invalid."""
    try:
        return model.model_validate({name: value.strip() for name, value in values.items()})
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "form"
        received = str(values.get(field, ""))[:24]
        expected = _EXPECTED.get(field, first["msg"])
        raise EvaluationInputError(f"{where}: {field} received {received!r}; expected {expected}") from None
