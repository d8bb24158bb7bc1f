"""Report-generation metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr, computed by pycocoevalcap.

The scorers are pycocoevalcap's own classes, called as the R2Gen family calls them (BLEU with
the "closest" reference length, METEOR 1.5 with ``-l en -norm``, ROUGE-L with beta 1.2, CIDEr-D
with n 4 and sigma 6), so the numbers are comparable with published ones when the same
:class:`~januscxr.eval.tokenization.Tokenization` is used. METEOR starts one Java process per
corpus; PTB tokenization one more. Metrics that need model weights (CheXbert, RadGraph,
BERTScore) are never downloaded: :func:`model_metric_status` says why they are unavailable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from januscxr.errors import EvaluationInputError
from januscxr.eval.tables import preview_ids
from januscxr.eval.tokenization import Tokenization, java_available, tokenize_texts

logger = logging.getLogger(__name__)

BLEU_METRICS = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4")
TEXT_METRICS = (*BLEU_METRICS, "METEOR", "ROUGE_L", "CIDEr")
_SCORERS = ("BLEU", "METEOR", "ROUGE_L", "CIDEr")


@dataclass(frozen=True)
class TextScores:
    """Corpus scores, per-report scores and the metrics that could not be computed.

    ``corpus`` is what papers report: corpus BLEU and corpus METEOR (each from statistics
    pooled over all reports, not the mean of per-report scores), and the mean over reports of
    ROUGE-L and CIDEr (CIDEr's IDF comes from the references of this corpus, so it depends on
    the corpus). ``unavailable`` maps a metric name to the reason it is missing.
    """

    corpus: dict[str, float]
    per_report: dict[str, dict[str, float]]
    unavailable: dict[str, str]
    tokenization: Tokenization
    n_reports: int


def score_reports(
    predictions: Mapping[str, str],
    references: Mapping[str, str | Sequence[str]],
    *,
    tokenization: str | Tokenization = Tokenization.R2GEN,
    metrics: Sequence[str] = TEXT_METRICS,
    on_metric: Callable[[str], object] | None = None,
) -> TextScores:
    """Score generated reports against reference reports.

    Parameters
    ----------
    predictions : mapping of str to str
        Report id -> generated report text.
    references : mapping of str to str or sequence of str
        Report id -> the reference report (or several). Ids must equal those of ``predictions``.
    tokenization : {"r2gen", "ptb", "none"}
        How text becomes tokens (see :mod:`januscxr.eval.tokenization`).
    metrics : sequence of str
        A subset of :data:`TEXT_METRICS`; any BLEU_n computes all four.
    on_metric : callable, optional
        Called with a scorer's name ("BLEU", "METEOR", "ROUGE_L", "CIDEr") when it finishes.

    Returns
    -------
    TextScores
    """
    mode = Tokenization.coerce(tokenization)
    ids = _matching_ids(predictions, references)
    unknown = [m for m in metrics if m not in TEXT_METRICS]
    if unknown:
        raise EvaluationInputError(
            f"unknown metric(s) {', '.join(unknown)}; expected some of {', '.join(TEXT_METRICS)}"
        )
    res, gts = tokenized_corpus(ids, predictions, references, mode)
    corpus: dict[str, float] = {}
    per_report: dict[str, dict[str, float]] = {i: {} for i in ids}
    unavailable: dict[str, str] = {}
    for scorer in _SCORERS:
        names = BLEU_METRICS if scorer == "BLEU" else (scorer,)
        if not any(n in metrics for n in names):
            continue
        if scorer == "METEOR" and not java_available():
            unavailable["METEOR"] = "needs Java (apt-get install -y default-jre-headless); none on PATH"
        else:
            try:
                _run_scorer(scorer, gts, res, corpus, per_report)
            except (OSError, ValueError) as error:  # the Java process died or answered garbage
                if scorer != "METEOR":
                    raise
                logger.warning("METEOR failed: %s", error)
                unavailable["METEOR"] = f"METEOR's Java process failed ({type(error).__name__}: {error})"
        if on_metric is not None:
            on_metric(scorer)
    return TextScores(
        corpus=corpus, per_report=per_report, unavailable=unavailable, tokenization=mode, n_reports=len(ids)
    )


def _matching_ids(predictions: Mapping[str, str], references: Mapping[str, str | Sequence[str]]) -> list[str]:
    """The report ids, in prediction order; raise when the two sides differ or are empty."""
    missing_ref = [i for i in predictions if i not in references]
    missing_pred = [i for i in references if i not in predictions]
    if missing_ref or missing_pred:
        raise EvaluationInputError(
            f"report ids differ: {len(missing_ref)} predicted id(s) without a reference ({preview_ids(missing_ref)}), "
            f"{len(missing_pred)} reference id(s) without a prediction ({preview_ids(missing_pred)}); expected the same ids"
        )
    if not predictions:
        raise EvaluationInputError("no reports to score; expected at least one id with a prediction and a reference")
    return list(predictions)


def tokenized_corpus(
    ids: list[str],
    predictions: Mapping[str, str],
    references: Mapping[str, str | Sequence[str]],
    mode: Tokenization,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """pycocoevalcap's ``res`` and ``gts`` dicts, all texts tokenized in one pass."""
    ref_lists = {i: [references[i]] if isinstance(references[i], str) else list(references[i]) for i in ids}
    texts: list[str] = [predictions[i] for i in ids]
    for i in ids:
        if not ref_lists[i]:
            raise EvaluationInputError(f"report {i!r} has no reference text; expected at least one")
        texts.extend(str(r) for r in ref_lists[i])
    tokens = iter(tokenize_texts(texts, mode))
    res = {i: [next(tokens)] for i in ids}
    gts = {i: [next(tokens) for _ in ref_lists[i]] for i in ids}
    return res, gts


def _run_scorer(
    scorer: str,
    gts: dict[str, list[str]],
    res: dict[str, list[str]],
    corpus: dict[str, float],
    per_report: dict[str, dict[str, float]],
) -> None:
    """Run one pycocoevalcap scorer and store its corpus and per-report scores."""
    ids = list(res)
    if scorer == "BLEU":
        from pycocoevalcap.bleu.bleu import Bleu  # type: ignore[import-untyped]

        scores, per = Bleu(4).compute_score(gts, res, verbose=0)
        for n, name in enumerate(BLEU_METRICS):
            corpus[name] = float(scores[n])
            for i, value in zip(ids, per[n], strict=True):
                per_report[i][name] = float(value)
        return
    score, per = _score_one(scorer, gts, res)
    corpus[scorer] = float(score)
    for i, value in zip(ids, np.asarray(per, dtype=np.float64), strict=True):
        per_report[i][scorer] = float(value)


def _score_one(scorer: str, gts: dict[str, list[str]], res: dict[str, list[str]]) -> tuple[Any, Any]:
    """pycocoevalcap's ``compute_score`` for METEOR, ROUGE-L or CIDEr."""
    if scorer == "METEOR":
        from pycocoevalcap.meteor.meteor import Meteor  # type: ignore[import-untyped]

        meteor = Meteor()  # one Java process for the whole corpus
        try:
            return meteor.compute_score(gts, res)  # type: ignore[no-any-return]
        finally:
            # Meteor.__del__ closes the Java process but first takes a lock that a failed
            # compute_score leaves held; give it a free one so that it cannot block.
            meteor.lock = threading.Lock()
            del meteor
    if scorer == "ROUGE_L":
        from pycocoevalcap.rouge.rouge import Rouge  # type: ignore[import-untyped]

        return Rouge().compute_score(gts, res)  # type: ignore[no-any-return]
    from pycocoevalcap.cider.cider import Cider  # type: ignore[import-untyped]

    return Cider().compute_score(gts, res)  # type: ignore[no-any-return]


class ModelMetric(StrEnum):
    """Report metrics computed by a neural model whose weights januscxr does not ship."""

    CHEXBERT_F1 = "chexbert_f1"
    RADGRAPH_F1 = "radgraph_f1"
    BERTSCORE = "bertscore"


@dataclass(frozen=True)
class MetricStatus:
    """Whether a metric can be computed here, and why not."""

    metric: str
    available: bool
    reason: str
    weights_dir: str | None = field(default=None)


def model_metric_status(metric: str | ModelMetric, weights_dir: str | Path | None = None) -> MetricStatus:
    """Say whether a model-based report metric can run; weights are never downloaded.

    Parameters
    ----------
    metric : {"chexbert_f1", "radgraph_f1", "bertscore"}
        The metric asked for.
    weights_dir : path, optional
        A local folder holding that model's weights.

    Returns
    -------
    MetricStatus
        Unavailable without a folder, with a folder that does not exist, and, in this version,
        with one that does: januscxr does not yet run these models.
    """
    try:
        name = ModelMetric(metric)
    except ValueError:
        expected = ", ".join(m.value for m in ModelMetric)
        raise EvaluationInputError(f"unknown model-based metric {metric!r}; expected one of: {expected}") from None
    if weights_dir is None:
        return MetricStatus(name.value, False, "no local weights directory given; januscxr never downloads weights")
    folder = Path(weights_dir)
    if not folder.is_dir():
        return MetricStatus(name.value, False, f"weights directory {folder} does not exist", str(folder))
    return MetricStatus(
        name.value, False, f"weights found in {folder}, but this version does not run {name.value}", str(folder)
    )
