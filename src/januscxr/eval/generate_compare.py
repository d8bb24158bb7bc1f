"""``januscxr eval compare``: two reporters on the same test set, with paired bootstrap intervals.

Both run folders (made by ``eval generate``) hold drafts of the same manifest rows. Each bootstrap
resample draws patients with replacement when every row has a patient id (reports of one patient
are correlated), reports otherwise, and recomputes every metric **for both reporters on the same
resample**; the interval is the percentile interval of the differences A − B.

Each metric is recomputed from per-report statistics, so a resample costs a matrix product:

- BLEU-1..4: corpus BLEU from the n-gram counts and lengths of pycocoevalcap's ``BleuScorer``
  pooled over the resample (with all weights 1 it equals the corpus BLEU of ``score_reports``);
- METEOR, ROUGE-L, CIDEr: the mean of per-report scores (for METEOR this is the mean of segment
  scores, not METEOR's pooled corpus score; CIDEr keeps the IDF of the whole test set);
- clinical efficacy: macro and micro F1 over CheXpert 14 and 5 from the confusion counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from januscxr.errors import EvaluationInputError
from januscxr.eval.clinical import CHEXPERT_5, UncertainPolicy, binarize_labels, label_reports
from januscxr.eval.generate import DraftRecord, Section, read_drafts, read_run_info
from januscxr.eval.text import TEXT_METRICS, score_reports, tokenized_corpus
from januscxr.eval.tokenization import Tokenization
from januscxr.labels import CHEXPERT_14

FloatArray = npt.NDArray[np.float64]
# A metric as a function of resample weights: (B, N) report weights -> (B,) values.
Statistic = Callable[[FloatArray], FloatArray]
_CHUNK = 200  # resamples per matrix product, to bound memory


@dataclass(frozen=True)
class PairedDifference:
    """One metric of both reporters, their difference A − B and its bootstrap interval."""

    metric: str
    a: float
    b: float
    difference: float
    ci: tuple[float, float]
    excludes_zero: bool


@dataclass(frozen=True)
class RunComparison:
    """The paired comparison of two runs on the reports both drafted."""

    reporter_a: str
    reporter_b: str
    n_reports: int
    n_groups: int
    resampled: str  # "patients" or "reports"
    n_boot: int
    seed: int
    level: float
    section: Section
    tokenization: Tokenization
    differences: tuple[PairedDifference, ...]
    notes: tuple[str, ...]


def compare_runs(
    run_a: Path,
    run_b: Path,
    *,
    section: str | Section = Section.REPORT,
    tokenization: str | Tokenization = Tokenization.R2GEN,
    uncertain: str | UncertainPolicy = UncertainPolicy.NEGATIVE,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metrics: Sequence[str] = TEXT_METRICS,
) -> RunComparison:
    """Paired bootstrap comparison of two ``eval generate`` run folders.

    Parameters
    ----------
    run_a, run_b : Path
        Run folders whose drafts cover the same manifest (same ids and reference reports).
    section, tokenization, uncertain
        As ``eval generate`` scores.
    n_boot, seed, level
        Resamples, their seed, and the confidence level of the percentile interval.
    metrics : sequence of str
        The text metrics compared (a subset of :data:`~januscxr.eval.text.TEXT_METRICS`);
        clinical efficacy always is.

    Returns
    -------
    RunComparison
    """
    part, mode, policy = Section.coerce(section), Tokenization.coerce(tokenization), UncertainPolicy.coerce(uncertain)
    unknown = [m for m in metrics if m not in TEXT_METRICS]
    if unknown or n_boot < 1 or not 0.0 < level < 1.0:
        raise EvaluationInputError(
            f"metrics {unknown}, n_boot {n_boot}, level {level}; expected metrics among "
            f"{', '.join(TEXT_METRICS)}, n_boot >= 1 and 0 < level < 1"
        )
    drafts_a, drafts_b = read_drafts(run_a), read_drafts(run_b)
    ids, notes = _shared_ids(run_a, drafts_a, run_b, drafts_b, part)
    references = {i: drafts_a[i].reference(part) for i in ids}
    groups, resampled = _groups([drafts_a[i] for i in ids])
    texts = ({i: drafts_a[i].draft(part) for i in ids}, {i: drafts_b[i].draft(part) for i in ids})
    stats_a, stats_b = _statistics(texts, references, mode, policy, metrics)
    differences = _paired_bootstrap(stats_a, stats_b, groups, n_boot=n_boot, seed=seed, level=level)
    return RunComparison(
        reporter_a=str(read_run_info(run_a).get("reporter", run_a)),
        reporter_b=str(read_run_info(run_b).get("reporter", run_b)),
        n_reports=len(ids),
        n_groups=int(groups.max()) + 1,
        resampled=resampled,
        n_boot=n_boot,
        seed=seed,
        level=level,
        section=part,
        tokenization=mode,
        differences=differences,
        notes=tuple(notes),
    )


def _shared_ids(
    run_a: Path, drafts_a: dict[str, DraftRecord], run_b: Path, drafts_b: dict[str, DraftRecord], section: Section
) -> tuple[list[str], list[str]]:
    """Ids drafted by both runs with a reference in ``section``; raise when references differ."""
    ids = [i for i in drafts_a if i in drafts_b and drafts_a[i].reference(section)]
    for i in ids:
        if drafts_a[i].reference(section) != drafts_b[i].reference(section):
            raise EvaluationInputError(
                f"{run_a} and {run_b}: report {i!r} has different references; expected runs on the same manifest"
            )
    if not ids:
        raise EvaluationInputError(f"{run_a} and {run_b} share no drafted report; expected runs on the same manifest")
    notes = [
        f"{len(only)} report(s) drafted only in {run} left out"
        for run, only in ((run_a, set(drafts_a) - set(drafts_b)), (run_b, set(drafts_b) - set(drafts_a)))
        if only
    ]
    return ids, notes


def _groups(records: list[DraftRecord]) -> tuple[npt.NDArray[np.int64], str]:
    """Each report's resampling unit: its patient when every report has one, else itself."""
    if all(r.patient_id for r in records):
        _, index = np.unique([str(r.patient_id) for r in records], return_inverse=True)
        return index.astype(np.int64), "patients"
    return np.arange(len(records), dtype=np.int64), "reports"


def _statistics(
    drafts: tuple[dict[str, str], dict[str, str]],
    references: dict[str, str],
    mode: Tokenization,
    policy: UncertainPolicy,
    metrics: Sequence[str],
) -> tuple[dict[str, Statistic], dict[str, Statistic]]:
    """Every compared metric of reporters A and B as functions of resample weights."""
    stats: tuple[dict[str, Statistic], dict[str, Statistic]] = ({}, {})
    if any(m.startswith("BLEU") for m in metrics):
        for side, texts in zip(stats, drafts, strict=True):
            side.update(_bleu_statistics(texts, references, mode))
    # Both reporters in one corpus: one METEOR process; per-report scores do not depend on the
    # corpus, and CIDEr's IDF is unchanged when every reference appears twice.
    averaged = [m for m in ("METEOR", "ROUGE_L", "CIDEr") if m in metrics]
    if averaged:
        joined = {f"{k}\t{i}": text for k, texts in enumerate(drafts) for i, text in texts.items()}
        doubled = {key: references[key.split("\t", 1)[1]] for key in joined}
        scores = score_reports(joined, doubled, tokenization=mode, metrics=averaged)
        for metric in (m for m in averaged if m in scores.corpus):
            for k, side in enumerate(stats):
                per = np.array([scores.per_report[f"{k}\t{i}"][metric] for i in references], dtype=np.float64)
                side[metric] = _weighted_mean(per)  # (N,) scores
    labels_ref = label_reports(references)
    for side, texts in zip(stats, drafts, strict=True):
        labels = label_reports(texts)
        for findings, suffix in ((CHEXPERT_14, "14"), (CHEXPERT_5, "5")):
            pred = np.array([binarize_labels(labels[i], findings, policy) for i in references], dtype=np.float64)
            truth = np.array([binarize_labels(labels_ref[i], findings, policy) for i in references], dtype=np.float64)
            side[f"macro_f1_{suffix}"] = _f1(pred, truth, macro=True)
            side[f"micro_f1_{suffix}"] = _f1(pred, truth, macro=False)
    return stats


def _bleu_statistics(drafts: dict[str, str], references: dict[str, str], mode: Tokenization) -> dict[str, Statistic]:
    """Corpus BLEU-1..4 from per-report counts, as pycocoevalcap's ``BleuScorer`` pools them."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer  # type: ignore[import-untyped]

    ids = list(drafts)
    res, gts = tokenized_corpus(ids, drafts, references, mode)
    scorer = BleuScorer(n=4)
    for i in ids:
        scorer += (res[i][0], gts[i])
    counts = np.array(  # (N, 10): test length, closest reference length, guesses 1..4, correct 1..4
        [
            [c["testlen"], min((abs(n - c["testlen"]), n) for n in c["reflen"])[1], *c["guess"], *c["correct"]]
            for c in scorer.ctest
        ],
        dtype=np.float64,
    )

    def bleu(n: int) -> Statistic:
        def value(weights: FloatArray) -> FloatArray:
            total = weights @ counts  # (B, 10)
            precisions = (total[:, 6 : 6 + n] + 1e-15) / (total[:, 2 : 2 + n] + 1e-9)
            score = np.prod(precisions, axis=1) ** (1.0 / n)
            ratio = (total[:, 0] + 1e-15) / (total[:, 1] + 1e-9)
            penalty = np.where(ratio < 1.0, np.exp(1.0 - 1.0 / np.maximum(ratio, 1e-300)), 1.0)
            return np.asarray(score * penalty, dtype=np.float64)

        return value

    return {f"BLEU_{n}": bleu(n) for n in range(1, 5)}


def _weighted_mean(per_report: FloatArray) -> Statistic:
    def value(weights: FloatArray) -> FloatArray:
        return np.asarray((weights @ per_report) / weights.sum(axis=1), dtype=np.float64)

    return value


def _f1(pred: FloatArray, truth: FloatArray, *, macro: bool) -> Statistic:
    """Macro or micro F1 (= 2TP / (2TP + FP + FN), 0 when undefined) of (N, K) 0/1 matrices."""
    tp, fp, fn = pred * truth, pred * (1 - truth), (1 - pred) * truth

    def value(weights: FloatArray) -> FloatArray:
        ctp, cfp, cfn = weights @ tp, weights @ fp, weights @ fn  # each (B, K)
        if not macro:
            ctp, cfp, cfn = (c.sum(axis=1, keepdims=True) for c in (ctp, cfp, cfn))
        denominator = 2 * ctp + cfp + cfn
        f1 = np.divide(2 * ctp, denominator, out=np.zeros_like(ctp), where=denominator > 0)
        return np.asarray(f1.mean(axis=1), dtype=np.float64)

    return value


def _paired_bootstrap(
    stats_a: dict[str, Statistic],
    stats_b: dict[str, Statistic],
    groups: npt.NDArray[np.int64],
    *,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[PairedDifference, ...]:
    """Point estimates, and percentile intervals of A − B over resamples of ``groups``."""
    n_groups = int(groups.max()) + 1
    rng = np.random.default_rng(seed)
    full = np.ones((1, groups.size), dtype=np.float64)
    metrics = [m for m in stats_a if m in stats_b]
    samples: dict[str, list[FloatArray]] = {m: [] for m in metrics}
    for start in range(0, n_boot, _CHUNK):
        size = min(_CHUNK, n_boot - start)
        drawn = rng.integers(0, n_groups, size=(size, n_groups))
        counts = np.stack([np.bincount(row, minlength=n_groups) for row in drawn]).astype(np.float64)
        weights = counts[:, groups]  # (B, N): how often each report's group was drawn
        for m in metrics:
            samples[m].append(stats_a[m](weights) - stats_b[m](weights))
    tail = (1.0 - level) / 2.0
    differences = []
    for m in metrics:
        a, b = float(stats_a[m](full)[0]), float(stats_b[m](full)[0])
        low, high = np.quantile(np.concatenate(samples[m]), [tail, 1.0 - tail])
        ci = (float(low), float(high))
        differences.append(PairedDifference(m, a, b, a - b, ci, excludes_zero=ci[0] > 0.0 or ci[1] < 0.0))
    return tuple(differences)


def write_comparison(comparison: RunComparison, out: Path) -> dict[str, Any]:
    """Write ``compare.json`` and ``compare.md`` into ``out``; return the JSON data."""
    from januscxr.eval.runs import write_outputs

    out.mkdir(parents=True, exist_ok=True)
    return write_outputs(
        {"comparison": comparison}, out / "compare.json", render_comparison(comparison), out / "compare.md"
    )


def render_comparison(comparison: RunComparison) -> str:
    """The comparison as Markdown."""
    from januscxr.eval.markdown import table

    c = comparison
    lines = [
        f"# {c.reporter_a} (A) vs {c.reporter_b} (B): {c.n_reports} reports",
        "",
        f"Paired bootstrap: {c.n_boot} resamples of {c.n_groups} {c.resampled} (seed {c.seed}); "
        f"{c.level:.0%} percentile intervals of A − B. Section `{c.section.value}`, tokenization "
        f"`{c.tokenization.value}`. METEOR, ROUGE-L and CIDEr are means of per-report scores.",
        "",
    ]
    lines += table(
        ["Metric", "A", "B", "A − B", f"{c.level:.0%} CI", "Excludes 0"],
        [
            [
                d.metric,
                f"{d.a:.4f}",
                f"{d.b:.4f}",
                f"{d.difference:+.4f}",
                f"{d.ci[0]:+.4f} to {d.ci[1]:+.4f}",
                "yes" if d.excludes_zero else "no",
            ]
            for d in c.differences
        ],
    )
    lines += [""] + [f"- {note}" for note in c.notes] if c.notes else []
    return "\n".join(lines) + "\n"
