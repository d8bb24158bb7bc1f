"""``januscxr eval generate``: draft every test image with a reporter, then score the drafts.

Drafting goes through :func:`januscxr.pipeline.read_batches` (gate, classifier, reporter), as a
read in the reading room does. Each batch's drafts are appended to ``drafts.jsonl`` in the output
folder and flushed to disk before the next batch starts, so a killed run loses at most the batch
in flight and a rerun drafts only the rows not yet in the file. ``run.json`` records the reporter
and classifier; a rerun with others into the same folder is refused rather than mixed.

Scoring uses the toolkit: :func:`~januscxr.eval.text.score_reports` (BLEU-1..4, METEOR, ROUGE-L,
CIDEr) and :func:`~januscxr.eval.clinical.clinical_efficacy` on :mod:`januscxr.labeler` labels.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from januscxr.errors import EvaluationInputError, JanusCxrError
from januscxr.eval.clinical import CHEXPERT_5, UncertainPolicy, clinical_efficacy, label_reports
from januscxr.eval.report_manifest import ManifestRow, ReportManifest, SkippedRow
from januscxr.eval.runs import ProgressFactory, no_progress, write_outputs
from januscxr.eval.text import TEXT_METRICS, score_reports
from januscxr.eval.tokenization import Tokenization
from januscxr.labels import CHEXPERT_14
from januscxr.models.base import Classifier, Gate, Reporter
from januscxr.pipeline import read_batches

logger = logging.getLogger(__name__)

DRAFTS_FILE = "drafts.jsonl"
RUN_FILE = "run.json"
_RUN_KEYS = ("reporter", "classifier")  # a rerun must draft with the same models


class Section(StrEnum):
    """Which part of the reports is scored."""

    REPORT = "report"  # findings and impression together
    FINDINGS = "findings"
    IMPRESSION = "impression"

    @classmethod
    def coerce(cls, value: str | Section) -> Section:
        """Accept the enum or its value; raise EvaluationInputError otherwise."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            expected = ", ".join(m.value for m in cls)
            raise EvaluationInputError(f"section is {value!r}; expected one of: {expected}") from None


@dataclass(frozen=True)
class DraftRecord:
    """One line of ``drafts.jsonl``: the row, its reference and the reporter's draft."""

    case_id: str
    line: int
    image: str
    patient_id: str | None
    reference_findings: str
    reference_impression: str
    draft_findings: str
    draft_impression: str
    reporter: str

    def reference(self, section: Section) -> str:
        """The reference text of ``section``."""
        return _section_text(self.reference_findings, self.reference_impression, section)

    def draft(self, section: Section) -> str:
        """The draft text of ``section``."""
        return _section_text(self.draft_findings, self.draft_impression, section)


@dataclass(frozen=True)
class GenerationSummary:
    """What one call of :func:`generate_drafts` did."""

    n_rows: int
    n_done_before: int
    n_drafted: int
    skipped: tuple[SkippedRow, ...]


def generate_drafts(
    manifest: ReportManifest,
    out: Path,
    *,
    reporter: Reporter,
    classifier: Classifier | str | None = None,
    gate: Gate | str | None = None,
    batch_size: int = 4,
    require_frontal: bool = True,
    run_info: Mapping[str, object] | None = None,
    progress: ProgressFactory = no_progress,
) -> GenerationSummary:
    """Draft every manifest row not yet in ``out/drafts.jsonl``, appending each batch as it is done.

    Parameters
    ----------
    manifest : ReportManifest
        From :func:`~januscxr.eval.report_manifest.read_report_manifest`.
    out : Path
        The run folder (created when missing).
    reporter, classifier, gate
        As :func:`januscxr.pipeline.read_batches` takes them.
    batch_size : int
        Images per batch: drafted together when the reporter has ``draft_many``, and written together.
    run_info : mapping, optional
        Written to ``run.json``; its ``reporter`` and ``classifier`` must match an earlier run's.

    Returns
    -------
    GenerationSummary
        Rows whose image could not be read or drafted are skipped (and retried by the next run).
    """
    out.mkdir(parents=True, exist_ok=True)
    _check_run(out, {"reporter": reporter.name, **(run_info or {})})
    done = read_drafts(out)
    pending = [row for row in manifest.rows if row.case_id not in done]
    skipped: list[SkippedRow] = list(manifest.skipped)
    size = max(1, batch_size)
    bar = progress(desc="drafting", total=len(pending))
    n_drafted = 0
    with (out / DRAFTS_FILE).open("a", encoding="utf-8") as handle:
        for start in range(0, len(pending), size):
            batch = pending[start : start + size]
            outcomes = read_batches(
                [row.image for row in batch],
                batch_size=size,
                classifier=classifier,
                reporter=reporter,
                heatmaps=False,
                require_frontal=require_frontal,
                check_consistency=False,
                gate=gate,
            )
            records = []
            for row, outcome in _match_rows(batch, outcomes):
                bar.update()
                if isinstance(outcome, JanusCxrError):
                    logger.warning("%s: line %d skipped: %s", manifest.source, row.line, outcome)
                    skipped.append(SkippedRow(row.line, row.case_id, str(outcome)))
                    continue
                records.append(_record(row, outcome.report.findings, outcome.report.impression, reporter.name))
            handle.write("".join(json.dumps(asdict(r)) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())  # the batch survives a kill from here on
            n_drafted += len(records)
    bar.close()
    skipped.sort(key=lambda s: s.line)
    return GenerationSummary(len(manifest.rows) + len(manifest.skipped), len(done), n_drafted, tuple(skipped))


def _match_rows(batch: list[ManifestRow], outcomes: Iterable[tuple[Path, Any]]) -> Iterable[tuple[ManifestRow, Any]]:
    """Pair each outcome with its row: ``read_batches`` yields failures before the batch's drafts."""
    queues: dict[Path, deque[ManifestRow]] = defaultdict(deque)
    for row in batch:
        queues[row.image].append(row)
    for path, outcome in outcomes:
        yield queues[path].popleft(), outcome


def _record(row: ManifestRow, findings: str, impression: str, reporter: str) -> DraftRecord:
    return DraftRecord(
        case_id=row.case_id,
        line=row.line,
        image=str(row.image),
        patient_id=row.patient_id,
        reference_findings=row.findings,
        reference_impression=row.impression,
        draft_findings=findings,
        draft_impression=impression,
        reporter=reporter,
    )


def _check_run(out: Path, info: Mapping[str, object]) -> None:
    """Write ``run.json``, or refuse when it names another reporter or classifier."""
    path = out / RUN_FILE
    if path.is_file():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        for key in _RUN_KEYS:
            if key in info and key in earlier and earlier[key] != info[key]:
                raise EvaluationInputError(
                    f"{path}: {key} is {earlier[key]!r}; this run asks for {info[key]!r}: "
                    "expected the same to resume, or another --out folder"
                )
        return
    path.write_text(json.dumps(dict(info), indent=2, default=str) + "\n", encoding="utf-8")


def read_run_info(out: Path) -> dict[str, Any]:
    """``run.json`` of a run folder."""
    path = out / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EvaluationInputError(f"{path}: cannot read ({error}); expected a folder made by eval generate") from None
    if not isinstance(data, dict):
        raise EvaluationInputError(f"{path}: a JSON {type(data).__name__}; expected an object")
    return data


def read_drafts(out: Path) -> dict[str, DraftRecord]:
    """The drafts already written to ``out/drafts.jsonl``, by case id.

    A last line cut short by a kill is removed from the file (its batch is drafted again); any
    other line that does not parse is an error naming it.
    """
    path = out / DRAFTS_FILE
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as handle:
            handle.truncate(len(data))
    drafts: dict[str, DraftRecord] = {}
    for number, text in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = DraftRecord(**json.loads(text))
        except (json.JSONDecodeError, TypeError) as error:
            raise EvaluationInputError(f"{path}: line {number} is not a draft record ({error})") from None
        drafts[record.case_id] = record
    return drafts


def score_drafts(
    records: list[DraftRecord],
    *,
    section: str | Section = Section.REPORT,
    tokenization: str | Tokenization = Tokenization.R2GEN,
    uncertain: str | UncertainPolicy = UncertainPolicy.NEGATIVE,
    metrics: Sequence[str] = TEXT_METRICS,
    progress: ProgressFactory = no_progress,
) -> dict[str, Any]:
    """Text metrics (those in ``metrics``) and clinical efficacy (CheXpert 14 and 5) of drafts against their references.

    Records whose reference has nothing in ``section`` are left out and listed under ``skipped``.
    """
    part = Section.coerce(section)
    scored = [r for r in records if r.reference(part)]
    skipped = [SkippedRow(r.line, r.case_id, f"reference has no {part.value} text") for r in records if r not in scored]
    if not scored:
        raise EvaluationInputError(f"no draft has a reference {part.value}; expected at least one to score")
    drafts = {r.case_id: r.draft(part) for r in scored}
    references = {r.case_id: r.reference(part) for r in scored}
    bar = progress(desc="text metrics", total=4)
    scores = score_reports(
        drafts, references, tokenization=tokenization, metrics=metrics, on_metric=lambda _: bar.update()
    )
    bar.close()
    bar = progress(desc="labelling reports", total=2 * len(scored))
    labels_draft = label_reports(drafts, on_report=bar.update)
    labels_reference = label_reports(references, on_report=bar.update)
    bar.close()
    efficacy = {
        name: clinical_efficacy(labels_draft, labels_reference, findings=findings, uncertain=uncertain)
        for name, findings in (("CheXpert 14", CHEXPERT_14), ("CheXpert 5", CHEXPERT_5))
    }
    headline = {
        "macro_f1_14": efficacy["CheXpert 14"].macro.f1,
        "micro_f1_14": efficacy["CheXpert 14"].micro.f1,
        "macro_f1_5": efficacy["CheXpert 5"].macro.f1,
        "micro_f1_5": efficacy["CheXpert 5"].micro.f1,
    }
    return {
        "section": part,
        "text_metrics": scores,
        "clinical_efficacy": efficacy,
        "headline": scores.corpus | headline,
        "unavailable": scores.unavailable,
        "skipped": skipped,
    }


def run_generate(
    manifest: ReportManifest,
    out: Path,
    *,
    reporter: Reporter,
    section: str | Section = Section.REPORT,
    tokenization: str | Tokenization = Tokenization.R2GEN,
    uncertain: str | UncertainPolicy = UncertainPolicy.NEGATIVE,
    metrics: Sequence[str] = TEXT_METRICS,
    sample: int = 10,
    progress: ProgressFactory = no_progress,
    **drafting: Any,
) -> dict[str, Any]:
    """Draft what is missing (:func:`generate_drafts`, taking ``drafting``), score, write the pages.

    Writes ``scores.json``, ``scores.md`` and ``scores.html`` into ``out`` and returns the JSON data.
    """
    part, mode = Section.coerce(section), Tokenization.coerce(tokenization)
    policy = UncertainPolicy.coerce(uncertain)  # these fail before the slow part
    unknown = [m for m in metrics if m not in TEXT_METRICS]
    if unknown:
        raise EvaluationInputError(
            f"unknown metric(s) {', '.join(unknown)}; expected some of {', '.join(TEXT_METRICS)}"
        )
    summary = generate_drafts(manifest, out, reporter=reporter, progress=progress, **drafting)
    drafts = read_drafts(out)
    records = [drafts[row.case_id] for row in manifest.rows if row.case_id in drafts]
    if not records:
        raise EvaluationInputError(
            f"{manifest.source}: no row could be drafted ({len(summary.skipped)} skipped); expected at least one"
        )
    scored = score_drafts(
        records, section=part, tokenization=mode, uncertain=policy, metrics=metrics, progress=progress
    )
    result = {
        "inputs": {"manifest": manifest.source, **read_run_info(out)},
        "counts": {
            "manifest_rows": summary.n_rows,
            "drafted_before": summary.n_done_before,
            "drafted_now": summary.n_drafted,
            "scored": scored["text_metrics"].n_reports,
            "skipped": len(summary.skipped) + len(scored["skipped"]),
        },
        **scored,
        "skipped": [*summary.skipped, *scored["skipped"]],
    }
    return write_scores(result, records, out, sample=sample)


def write_scores(
    result: dict[str, Any], records: list[DraftRecord], out: Path, *, sample: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Write ``scores.json``, ``scores.md`` and ``scores.html`` into ``out``; return the JSON data."""
    from januscxr.eval.generate_pages import render_html, render_markdown, sample_rows

    rows = sample_rows(records, result["text_metrics"], result["section"], size=sample, seed=seed)
    data = write_outputs(result, out / "scores.json", render_markdown(result, rows), out / "scores.md")
    (out / "scores.html").write_text(render_html(result, rows), encoding="utf-8")
    return data


def _section_text(findings: str, impression: str, section: Section) -> str:
    if section is Section.FINDINGS:
        return findings.strip()
    if section is Section.IMPRESSION:
        return impression.strip()
    return " ".join(part.strip() for part in (findings, impression) if part.strip())
