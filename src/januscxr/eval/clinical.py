"""Clinical efficacy of generated reports: agreement of the findings they state with the reference's.

Each report is reduced to labels, a mapping Finding -> state ("positive", "negative",
"uncertain", "not_mentioned"), by a labeler (CheXpert/CheXbert or :mod:`januscxr.labeler`).
A finding is positive when its state is positive, or uncertain under the uncertain policy
"positive"; negative, not-mentioned and (under policy "negative") uncertain are negative.
Then, over a set of findings (the 14 CheXpert observations or the 5 common ones):

- micro: precision, recall and F1 of the true/false positives pooled over reports and findings;
- macro: the mean over findings of each finding's precision, recall and F1;
- example-based: the mean over reports of each report's precision, recall and F1.

A ratio with a zero denominator counts as ``zero_division`` (0 by default, as scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from januscxr.errors import EvaluationInputError
from januscxr.labeler import label_report
from januscxr.labels import CHEXPERT_14, Finding

CHEXPERT_5: tuple[Finding, ...] = (
    Finding.ATELECTASIS,
    Finding.CARDIOMEGALY,
    Finding.CONSOLIDATION,
    Finding.EDEMA,
    Finding.PLEURAL_EFFUSION,
)

# One report's labels: {Finding or its name: state}, a state being a str, an enum or a labeler's label.
Labels = Mapping[Any, object]


class LabelState(StrEnum):
    """What a report says about one finding."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    NOT_MENTIONED = "not_mentioned"

    @classmethod
    def coerce(cls, value: object) -> LabelState:
        """Accept the enum, its value in any case, a labeler's label (see :func:`state_text`), or "absent"."""
        text = state_text(value).strip().lower().replace(" ", "_").replace("-", "_")
        if text == "absent":
            return cls.NOT_MENTIONED
        return cls(text)


def state_text(value: object) -> str:
    """The state string of a label value: a str, an enum holding one, or an object with ``.mention``.

    :func:`januscxr.labeler.label_report` maps each finding to a ``FindingLabel`` whose
    ``mention`` is a ``Mention`` enum ("positive", ...); plain strings work too.
    """
    mention = getattr(value, "mention", value)
    return str(getattr(mention, "value", mention))


class UncertainPolicy(StrEnum):
    """How an uncertain label is counted."""

    POSITIVE = "positive"
    NEGATIVE = "negative"

    @classmethod
    def coerce(cls, value: str | UncertainPolicy) -> UncertainPolicy:
        """Accept the enum or its value; raise EvaluationInputError otherwise."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise EvaluationInputError(f"uncertain policy is {value!r}; expected 'negative' or 'positive'") from None


@dataclass(frozen=True)
class PrecisionRecall:
    """Precision, recall and F1."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class FindingAgreement:
    """Confusion counts and precision, recall and F1 of one finding over all reports."""

    finding: Finding
    tp: int
    fp: int
    fn: int
    tn: int
    scores: PrecisionRecall

    @property
    def support(self) -> int:
        """Reports whose reference is positive for this finding."""
        return self.tp + self.fn


@dataclass(frozen=True)
class ClinicalEfficacy:
    """Micro, macro and example-based scores over one set of findings."""

    findings: tuple[Finding, ...]
    uncertain: UncertainPolicy
    n_reports: int
    micro: PrecisionRecall
    macro: PrecisionRecall
    example: PrecisionRecall
    per_finding: tuple[FindingAgreement, ...]


def clinical_efficacy(
    predicted: Mapping[str, Labels],
    reference: Mapping[str, Labels],
    *,
    findings: tuple[Finding, ...] = CHEXPERT_14,
    uncertain: str | UncertainPolicy = UncertainPolicy.NEGATIVE,
    zero_division: float = 0.0,
) -> ClinicalEfficacy:
    """Precision, recall and F1 of predicted report labels against reference report labels.

    Parameters
    ----------
    predicted, reference : mapping of str to labels
        Report id -> {Finding (or its name): state}. A finding missing from a report's labels
        is "not_mentioned". Both mappings must hold the same ids.
    findings : tuple of Finding
        The findings scored: :data:`~januscxr.labels.CHEXPERT_14` or :data:`CHEXPERT_5`.
    uncertain : {"negative", "positive"}
        Whether an uncertain label counts as negative or as positive (both sides alike).
    zero_division : float
        The value of a precision, recall or F1 whose denominator is zero.

    Returns
    -------
    ClinicalEfficacy
    """
    policy = UncertainPolicy.coerce(uncertain)
    ids = [i for i in predicted if i in reference]
    if len(ids) != len(predicted) or len(ids) != len(reference):
        extra = sorted(set(predicted) ^ set(reference))
        raise EvaluationInputError(
            f"label ids differ between predictions and references: {extra[:5]}; expected the same ids"
        )
    if not ids:
        raise EvaluationInputError("no labelled reports; expected at least one")
    pred = np.array([binarize_labels(predicted[i], findings, policy, report_id=i) for i in ids])  # (N, K)
    truth = np.array([binarize_labels(reference[i], findings, policy, report_id=i) for i in ids])  # (N, K)
    return _score(pred, truth, findings, policy, zero_division)


def binarize_labels(
    labels: Labels, findings: tuple[Finding, ...], uncertain: UncertainPolicy, *, report_id: str = "?"
) -> npt.NDArray[np.bool_]:
    """One report's labels as a positive/negative vector over ``findings``."""
    states: dict[Finding, LabelState] = {}
    for key, value in labels.items():
        try:
            states[Finding.coerce(key)] = LabelState.coerce(value)
        except ValueError:
            raise EvaluationInputError(
                f"report {report_id!r}: label {key!r} -> {value!r}; expected a finding name and one of "
                "positive, negative, uncertain, not_mentioned"
            ) from None
    positive = {LabelState.POSITIVE} | ({LabelState.UNCERTAIN} if uncertain is UncertainPolicy.POSITIVE else set())
    return np.array([states.get(f, LabelState.NOT_MENTIONED) in positive for f in findings], dtype=bool)


def _score(
    pred: npt.NDArray[np.bool_],
    truth: npt.NDArray[np.bool_],
    findings: tuple[Finding, ...],
    policy: UncertainPolicy,
    zero_division: float,
) -> ClinicalEfficacy:
    """Micro, macro and example-based scores of (N, K) boolean matrices."""
    tp, fp, fn = (pred & truth), (pred & ~truth), (~pred & truth)
    per_finding = tuple(
        FindingAgreement(
            finding=f,
            tp=int(tp[:, k].sum()),
            fp=int(fp[:, k].sum()),
            fn=int(fn[:, k].sum()),
            tn=int((~pred[:, k] & ~truth[:, k]).sum()),
            scores=_prf(int(tp[:, k].sum()), int(fp[:, k].sum()), int(fn[:, k].sum()), zero_division),
        )
        for k, f in enumerate(findings)
    )
    per_report = [
        _prf(int(tp[n].sum()), int(fp[n].sum()), int(fn[n].sum()), zero_division) for n in range(pred.shape[0])
    ]
    return ClinicalEfficacy(
        findings=findings,
        uncertain=policy,
        n_reports=int(pred.shape[0]),
        micro=_prf(int(tp.sum()), int(fp.sum()), int(fn.sum()), zero_division),
        macro=_mean([a.scores for a in per_finding]),
        example=_mean(per_report),
        per_finding=per_finding,
    )


def _prf(tp: int, fp: int, fn: int, zero_division: float) -> PrecisionRecall:
    """Precision, recall and F1 (= 2TP / (2TP + FP + FN)) from counts."""
    precision = tp / (tp + fp) if tp + fp else zero_division
    recall = tp / (tp + fn) if tp + fn else zero_division
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else zero_division
    return PrecisionRecall(float(precision), float(recall), float(f1))


def _mean(scores: list[PrecisionRecall]) -> PrecisionRecall:
    return PrecisionRecall(
        precision=float(np.mean([s.precision for s in scores])),
        recall=float(np.mean([s.recall for s in scores])),
        f1=float(np.mean([s.f1 for s in scores])),
    )


def label_reports(texts: Mapping[str, str], *, on_report: Callable[[], object] | None = None) -> dict[str, Labels]:
    """Label every report with :func:`januscxr.labeler.label_report`.

    Parameters
    ----------
    texts : mapping of str to str
        Report id -> report text.
    on_report : callable, optional
        Called after each report is labelled (for a progress bar).

    Returns
    -------
    dict of str to labels
        Report id -> {Finding: state}.
    """
    labelled: dict[str, Labels] = {}
    for report_id, text in texts.items():
        labels = label_report(text)
        if on_report is not None:
            on_report()
        labelled[report_id] = {key: state_text(value) for key, value in labels.items()}
    return labelled
