"""Whole evaluation runs: read the inputs, compute, write JSON, Markdown and PNG files to a folder.

One function per ``januscxr eval`` command, so that the CLI only parses options and calls.
Each returns the JSON-ready result it wrote.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from januscxr.errors import EvaluationInputError
from januscxr.eval import markdown
from januscxr.eval.clinical import (
    CHEXPERT_5,
    ClinicalEfficacy,
    UncertainPolicy,
    clinical_efficacy,
    label_reports,
)
from januscxr.eval.findings import FindingEvaluation, evaluate_finding
from januscxr.eval.reader_study import analyze_reader_study
from januscxr.eval.reads import read_reads, write_reads
from januscxr.eval.synthetic_study import generate_reader_study
from januscxr.eval.tables import FindingTable, match_ids, read_finding_table, read_report_texts
from januscxr.eval.text import TEXT_METRICS, ModelMetric, model_metric_status, score_reports
from januscxr.eval.tokenization import Tokenization
from januscxr.labels import CHEXPERT_14, Finding


class Progress(Protocol):
    """What a progress bar must do (``tqdm`` does it)."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


class ProgressFactory(Protocol):
    """Makes a progress bar for ``total`` steps described by ``desc``."""

    def __call__(self, *, desc: str, total: int) -> Progress: ...


class _NoProgress:
    def update(self, n: int = 1) -> object:
        return None

    def close(self) -> None:
        return None


def no_progress(*, desc: str, total: int) -> Progress:
    """A progress factory that shows nothing (the default outside the CLI)."""
    return _NoProgress()


def run_reports(
    pred: Path,
    ref: Path,
    out: Path,
    *,
    tokenization: str = Tokenization.R2GEN,
    id_column: str = "id",
    text_column: str = "report",
    uncertain: str = "negative",
    weights_dirs: Mapping[str, Path | None] | None = None,
    progress: ProgressFactory = no_progress,
) -> dict[str, Any]:
    """Score generated reports (text metrics; clinical efficacy when januscxr.labeler exists).

    Writes ``reports.json``, ``reports.md``, ``report_metrics.png`` and, with clinical efficacy,
    ``clinical_efficacy.png`` into ``out``.
    """
    policy = UncertainPolicy.coerce(uncertain)  # fail before the slow part
    mode = Tokenization.coerce(tokenization)
    predictions = read_report_texts(pred, id_column=id_column, text_column=text_column)
    references = read_report_texts(ref, id_column=id_column, text_column=text_column)
    match_ids(list(predictions), list(references), str(pred), str(ref))
    bar = progress(desc="text metrics", total=4)
    scores = score_reports(predictions, references, tokenization=mode, on_metric=lambda _: bar.update())
    bar.close()
    efficacy: dict[str, ClinicalEfficacy] = {}
    unavailable = dict(scores.unavailable)
    bar = progress(desc="labelling reports", total=2 * len(predictions))
    labels_pred = label_reports(predictions, on_report=bar.update)
    labels_ref = label_reports(references, on_report=bar.update)
    bar.close()
    for name, findings in (("CheXpert 14", CHEXPERT_14), ("CheXpert 5", CHEXPERT_5)):
        efficacy[name] = clinical_efficacy(labels_pred, labels_ref, findings=findings, uncertain=policy)
    statuses = [model_metric_status(m, (weights_dirs or {}).get(m.value)) for m in ModelMetric]
    out.mkdir(parents=True, exist_ok=True)
    from januscxr.eval.figures import plot_clinical_efficacy, plot_text_scores

    figures = [
        plot_text_scores(scores.per_report, [m for m in TEXT_METRICS if m in scores.corpus], out / "report_metrics.png")
    ]
    if "CheXpert 14" in efficacy:
        figures.append(plot_clinical_efficacy(efficacy["CheXpert 14"], out / "clinical_efficacy.png"))
    result = {
        "inputs": {"predictions": str(pred), "references": str(ref)},
        "text_metrics": scores,
        "clinical_efficacy": efficacy,
        "unavailable": unavailable | {s.metric: s.reason for s in statuses if not s.available},
        "model_metrics": statuses,
        "figures": [f.name for f in figures],
    }
    return write_outputs(
        result,
        out / "reports.json",
        markdown.render_reports(scores, efficacy, unavailable, statuses),
        out / "reports.md",
    )


def run_findings(
    pred: Path,
    truth: Path,
    out: Path,
    *,
    threshold: float = 0.5,
    thresholds: Path | None = None,
    baseline: Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    ece_bins: int = 10,
    id_column: str = "id",
    progress: ProgressFactory = no_progress,
) -> dict[str, Any]:
    """The per-finding table of a classifier's probabilities against 0/1 truth.

    Writes ``findings.json``, ``findings.md``, ``roc_curves.png`` and ``reliability.png`` into ``out``.
    ``thresholds`` is an optional JSON file {finding: threshold}; others use ``threshold``.
    """
    probabilities, labels, other = _aligned_tables(pred, truth, baseline, id_column)
    cutoffs = _read_thresholds(thresholds)
    findings = [f for f in probabilities.columns if f in labels.columns]
    notes = [
        f"{f.value}: in {pred} but not in {truth}; not evaluated"
        for f in probabilities.columns
        if f not in labels.columns
    ]
    notes += [
        f"{f.value}: in {truth} but not in {pred}; not evaluated"
        for f in labels.columns
        if f not in probabilities.columns
    ]
    rows = []
    bar = progress(desc="findings", total=len(findings))
    for finding in findings:
        base = other.columns.get(finding) if other is not None else None
        if other is not None and base is None:
            notes.append(f"{finding.value}: not in the baseline {baseline}; no DeLong test")
        rows.append(
            evaluate_finding(
                finding,
                labels.columns[finding],
                probabilities.columns[finding],
                threshold=cutoffs.get(finding, threshold),
                n_boot=n_boot,
                level=level,
                seed=seed,
                ece_bins=ece_bins,
                baseline=base,
            )
        )
        bar.update()
    bar.close()
    notes += [f"{r.finding.value}: {r.n_skipped} case(s) without a truth label left out" for r in rows if r.n_skipped]
    out.mkdir(parents=True, exist_ok=True)
    figures = _finding_figures(rows, labels, probabilities, out) if rows else []
    result = {
        "inputs": {
            "predictions": str(pred),
            "truth": str(truth),
            "baseline": None if baseline is None else str(baseline),
        },
        "findings": rows,
        "notes": notes,
        "figures": [f.name for f in figures],
    }
    return write_outputs(result, out / "findings.json", markdown.render_findings(rows, notes), out / "findings.md")


def _aligned_tables(
    pred: Path, truth: Path, baseline: Path | None, id_column: str
) -> tuple[FindingTable, FindingTable, FindingTable | None]:
    """Probabilities, truth and baseline tables with the same ids in the order of ``pred``."""
    probabilities = read_finding_table(pred, id_column=id_column)
    labels = read_finding_table(truth, id_column=id_column, truth=True)
    match_ids(probabilities.ids, labels.ids, str(pred), str(truth))
    other = None
    if baseline is not None:
        other = read_finding_table(baseline, id_column=id_column)
        match_ids(probabilities.ids, other.ids, str(pred), str(baseline))
        other = other.reordered(probabilities.ids)
    return probabilities, labels.reordered(probabilities.ids), other


def _finding_figures(
    rows: list[FindingEvaluation], labels: FindingTable, probabilities: FindingTable, out: Path
) -> list[Path]:
    """ROC curves and reliability diagrams of the evaluated findings."""
    from januscxr.eval.figures import plot_reliability, plot_roc_curves

    curves = {}
    for r in rows:
        labelled = ~np.isnan(labels.columns[r.finding])
        curves[r.finding.value] = (labels.columns[r.finding][labelled], probabilities.columns[r.finding][labelled])
    return [
        plot_roc_curves(curves, out / "roc_curves.png", aucs={r.finding.value: r.auc for r in rows}),
        plot_reliability({r.finding.value: r.reliability for r in rows}, out / "reliability.png"),
    ]


def run_study(reads_csv: Path, out: Path, *, level: float = 0.95) -> dict[str, Any]:
    """Analyse a reader study; writes ``study.json``, ``study.md`` and four PNG figures into ``out``."""
    table = read_reads(reads_csv)
    analysis = analyze_reader_study(table.reads, level=level, source=str(reads_csv))
    out.mkdir(parents=True, exist_ok=True)
    from januscxr.eval.study_figures import plot_reader_study

    figures = plot_reader_study(table.reads, analysis, out)
    result = {"analysis": analysis, "ignored_columns": table.ignored_columns, "figures": [f.name for f in figures]}
    return write_outputs(result, out / "study.json", markdown.render_study(analysis), out / "study.md")


def write_synthetic_study(
    path: Path, *, n_readers: int = 6, n_cases: int = 50, seed: int = 0, design: str = "crossed"
) -> Path:
    """Write a synthetic reader study CSV (every row marked ``synthetic=true``)."""
    reads = generate_reader_study(n_readers=n_readers, n_cases=n_cases, seed=seed, design=design)
    return write_reads(reads, path)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, NumPy values, tuples and paths as JSON values; NaN and infinities as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_outputs(result: dict[str, Any], json_path: Path, text: str, markdown_path: Path) -> dict[str, Any]:
    """Write the JSON and Markdown outputs; return the JSON-ready result."""
    data: dict[str, Any] = to_jsonable(result)
    json_path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    markdown_path.write_text(text, encoding="utf-8")
    return data


def _read_thresholds(path: Path | None) -> dict[Finding, float]:
    """{finding: threshold} from a JSON object file (empty when no file)."""
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvaluationInputError(f"{path}: cannot read thresholds JSON ({error})") from error
    if not isinstance(raw, dict):
        raise EvaluationInputError(f"{path}: thresholds must be a JSON object {{finding: threshold}}")
    cutoffs = {}
    for key, value in raw.items():
        try:
            finding = Finding.coerce(key)
        except ValueError as error:
            raise EvaluationInputError(f"{path}: key {key!r} is not a finding ({error})") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise EvaluationInputError(f"{path}: threshold of {key!r} is {value!r}; expected a number in [0, 1]")
        cutoffs[finding] = float(value)
    return cutoffs
