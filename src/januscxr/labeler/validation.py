"""Validate the labeler against the manually coded MeSH terms of the IU chest X-ray reports.

Each coded report's FINDINGS and IMPRESSION are labelled; a category counts as predicted
when any of its findings is POSITIVE (UNCERTAIN does not count by default: the labeler
already reads "likely" and "suggestive of" as positive, and MeSH coders rarely index what a
report only raises as a possibility; see ``docs/labeler.md``) and as true when the MeSH
coding asserts it (:mod:`januscxr.labeler.mesh`). Per category: precision, recall, F1 and
their 95% percentile bootstrap intervals over reports, with a fixed seed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from januscxr.errors import ReportInputError
from januscxr.labeler.annotation import Mention, NoFindingRule, ReportLabels
from januscxr.labeler.mesh import read_mesh
from januscxr.labeler.rules import label_report
from januscxr.labels import Finding

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

REPORTS_CSV: Final = Path("iu_xray") / "reports.csv"
REQUIRED_COLUMNS: Final = ("findings", "impression", "mesh_major")


class Category(StrEnum):
    """What is scored: one finding, or consolidation and pneumonia together."""

    CARDIOMEGALY = "Cardiomegaly"
    PLEURAL_EFFUSION = "Pleural Effusion"
    PNEUMOTHORAX = "Pneumothorax"
    ATELECTASIS = "Atelectasis"
    EDEMA = "Edema"
    CONSOLIDATION_PNEUMONIA = "Consolidation/Pneumonia"
    FRACTURE = "Fracture"
    LUNG_LESION = "Lung Lesion"
    NO_FINDING = "No Finding"
    LUNG_OPACITY = "Lung Opacity"
    ENLARGED_CARDIOMEDIASTINUM = "Enlarged Cardiomediastinum"
    PLEURAL_OTHER = "Pleural Other"
    SUPPORT_DEVICES = "Support Devices"

    @property
    def findings(self) -> frozenset[Finding]:
        """The findings that make up the category."""
        if self is Category.CONSOLIDATION_PNEUMONIA:
            return frozenset({Finding.CONSOLIDATION, Finding.PNEUMONIA})
        return frozenset({Finding(self.value)})

    @property
    def target_f1(self) -> float | None:
        """The F1 the labeler must reach (``None``: reported, not targeted)."""
        return TARGET_F1.get(self)


TARGET_F1: Final[dict[Category, float]] = {
    Category.CARDIOMEGALY: 0.92,
    Category.PLEURAL_EFFUSION: 0.92,
    Category.PNEUMOTHORAX: 0.92,
    Category.ATELECTASIS: 0.92,
    Category.EDEMA: 0.92,
    Category.CONSOLIDATION_PNEUMONIA: 0.92,
    Category.FRACTURE: 0.92,
    Category.LUNG_LESION: 0.85,
    Category.NO_FINDING: 0.93,
}


@dataclass(frozen=True, slots=True)
class CodedReport:
    """One IU report with a MeSH coding: its text, the findings asserted and those coded borderline."""

    report_id: str
    split: str
    text: str
    findings: frozenset[Finding]
    borderline: frozenset[Finding] = frozenset()


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """Agreement of the labeler with MeSH on one category, with 95% bootstrap intervals."""

    category: Category
    support: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    f1_ci: tuple[float, float]

    @property
    def meets_target(self) -> bool:
        """Whether F1 reaches the category's target (always true without one)."""
        target = self.category.target_f1
        return target is None or self.f1 >= target


@dataclass(frozen=True, slots=True)
class CodedReports:
    """The reports read from the CSV and how many were left out, and why."""

    reports: tuple[CodedReport, ...]
    not_indexed: int
    empty_text: int


def read_coded_reports(path: Path) -> CodedReports:
    """Read ``reports.csv``: FINDINGS + IMPRESSION and the MeSH findings of each coded report.

    Reports coded 'No Indexing' and reports with neither FINDINGS nor IMPRESSION are left
    out and counted.

    Parameters
    ----------
    path
        The IU ``reports.csv`` (columns ``findings``, ``impression``, ``mesh_major``).

    Returns
    -------
    CodedReports
        The usable reports and the counts of those left out.

    Raises
    ------
    ReportInputError
        When a required column is missing.
    """
    reports: list[CodedReport] = []
    not_indexed = empty_text = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}; expected {REQUIRED_COLUMNS}")
        for number, row in enumerate(reader, start=2):
            coding = read_mesh(row["mesh_major"])
            text = " ".join(part.strip() for part in (row["findings"], row["impression"]) if part.strip())
            if coding is None:
                not_indexed += 1
            elif not text:
                empty_text += 1
            else:
                report_id = row.get("report_id") or f"row {number}"
                reports.append(CodedReport(report_id, row.get("split", ""), text, coding.findings, coding.borderline))
    return CodedReports(tuple(reports), not_indexed, empty_text)


def predicted_findings(labels: ReportLabels, *, count_uncertain: bool = False) -> frozenset[Finding]:
    """The findings a report's labels count as present."""
    accepted = {Mention.POSITIVE, Mention.UNCERTAIN} if count_uncertain else {Mention.POSITIVE}
    return frozenset(f for f, label in labels.labels.items() if label.mention in accepted)


def score_reports(
    reports: Sequence[CodedReport],
    *,
    categories: Iterable[Category] = tuple(Category),
    count_uncertain: bool = False,
    no_finding: NoFindingRule = NoFindingRule.NORMAL_STUDY,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[CategoryScore]:
    """Label the reports and score each category against MeSH.

    Parameters
    ----------
    reports
        Coded reports, e.g. from :func:`read_coded_reports`.
    categories
        What to score.
    count_uncertain
        Count UNCERTAIN labels as predicted positives.
    no_finding
        The labeler's "No Finding" rule.
    n_bootstrap
        Bootstrap resamples of the reports for the intervals.
    seed
        Seed of the resampling.

    Returns
    -------
    list of CategoryScore
        One per category, in the order given.
    """
    chosen = tuple(categories)
    predicted = [
        predicted_findings(label_report(r.text, no_finding=no_finding), count_uncertain=count_uncertain)
        for r in reports
    ]
    y_true = np.array([[bool(c.findings & r.findings) for c in chosen] for r in reports], dtype=bool)  # (N, C)
    y_pred = np.array([[bool(c.findings & p) for c in chosen] for p in predicted], dtype=bool)  # (N, C)
    hedged = np.array([[bool(c.findings & r.borderline) for c in chosen] for r in reports], dtype=bool)  # (N, C)
    scored = ~hedged | y_true  # a finding MeSH codes only as borderline is not scored
    return [
        _score(category, y_true[scored[:, i], i], y_pred[scored[:, i], i], n_bootstrap=n_bootstrap, seed=seed)
        for i, category in enumerate(chosen)
    ]


def _score(category: Category, y_true: BoolArray, y_pred: BoolArray, *, n_bootstrap: int, seed: int) -> CategoryScore:
    """Point estimates and percentile bootstrap intervals of one category."""
    tp, fp, fn = int(np.sum(y_true & y_pred)), int(np.sum(~y_true & y_pred)), int(np.sum(y_true & ~y_pred))
    rng = np.random.default_rng(seed)
    n = len(y_true)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)  # (B, N)
    boot_tp = weights @ (y_true & y_pred)
    boot_fp = weights @ (~y_true & y_pred)
    boot_fn = weights @ (y_true & ~y_pred)
    precision, recall, f1 = _ratios(np.array([tp]), np.array([fp]), np.array([fn]))
    boot = _ratios(boot_tp, boot_fp, boot_fn)
    return CategoryScore(
        category=category,
        support=int(y_true.sum()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        precision=float(precision[0]),
        recall=float(recall[0]),
        f1=float(f1[0]),
        precision_ci=_interval(boot[0]),
        recall_ci=_interval(boot[1]),
        f1_ci=_interval(boot[2]),
    )


def _ratios(tp: FloatArray, fp: FloatArray, fn: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision, recall and F1, defined as 0 where a denominator is 0."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def _interval(samples: FloatArray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles."""
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def format_table(scores: Sequence[CategoryScore]) -> str:
    """A Markdown table of the scores, targets marked."""
    lines = [
        "| category | target F1 | support | precision (95% CI) | recall (95% CI) | F1 (95% CI) | TP / FP / FN |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        target = f"{s.category.target_f1:.2f}" if s.category.target_f1 is not None else "-"
        mark = "" if s.meets_target else " **below target**"
        lines.append(
            f"| {s.category.value} | {target} | {s.support} | {_cell(s.precision, s.precision_ci)} | "
            f"{_cell(s.recall, s.recall_ci)} | {_cell(s.f1, s.f1_ci)}{mark} | "
            f"{s.true_positives} / {s.false_positives} / {s.false_negatives} |"
        )
    return "\n".join(lines)


def _cell(value: float, interval: tuple[float, float]) -> str:
    """``0.953 (0.93-0.97)``."""
    return f"{value:.3f} ({interval[0]:.3f}-{interval[1]:.3f})"
