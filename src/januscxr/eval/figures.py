"""PNG figures of classifier and report evaluations (matplotlib's Agg canvas; no display needed).

Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot, so that
nothing global (the backend, open figures) changes in the caller's process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from januscxr.eval.classification import roc_curve
from januscxr.eval.clinical import ClinicalEfficacy
from januscxr.eval.reliability import ReliabilityBins

DPI = 120


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG (creating the folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def plot_roc_curves(
    curves: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    path: str | Path,
    *,
    aucs: Mapping[str, float] | None = None,
    title: str = "ROC curves",
) -> Path:
    """ROC curves of several findings (or models) on one chart.

    Parameters
    ----------
    curves : mapping of str to (truth, scores)
        Legend label -> 0/1 truth and scores of the same cases.
    path : path
        PNG file to write.
    aucs : mapping of str to float, optional
        AUCs to print in the legend (computed elsewhere, e.g. with their CIs).
    title : str
        Chart title.

    Returns
    -------
    Path
    """
    figure = Figure(figsize=(6.0, 6.0))
    ax = figure.subplots()
    for label, (truth, scores) in curves.items():
        fpr, tpr, _ = roc_curve(truth, scores)
        auc = (aucs or {}).get(label)
        ax.step(fpr, tpr, where="post", label=f"{label} (AUC {auc:.3f})" if auc is not None else label, linewidth=1.4)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1.0)
    ax.set(
        xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity (false-positive rate)", ylabel="Sensitivity", title=title
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(figure, path)


def plot_reliability(bins: Mapping[str, ReliabilityBins], path: str | Path, *, title: str = "Reliability") -> Path:
    """Reliability diagrams, one panel per finding: observed rate against mean probability.

    Parameters
    ----------
    bins : mapping of str to ReliabilityBins
        Panel title -> the binned predictions of that finding.
    path : path
        PNG file to write.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    n = max(len(bins), 1)
    columns = min(n, 4)
    rows = math.ceil(n / columns)
    figure = Figure(figsize=(3.2 * columns, 3.4 * rows))
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (label, b) in zip(axes, bins.items(), strict=False):
        centres = (b.edges[:-1] + b.edges[1:]) / 2.0
        filled = b.counts > 0
        ax.bar(centres[filled], b.observed_rate[filled], width=np.diff(b.edges)[filled], alpha=0.35, edgecolor="C0")
        ax.plot(b.mean_probability[filled], b.observed_rate[filled], marker="o", color="C0", linewidth=1.2)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1.0)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{label}\nECE {b.ece:.3f}", xlabel="Mean predicted probability")
        ax.title.set_fontsize("small")
    for ax in axes[len(bins) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("Observed positive rate")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_text_scores(per_report: Mapping[str, Mapping[str, float]], metrics: Sequence[str], path: str | Path) -> Path:
    """Box plots of the per-report scores of each metric (CIDEr, on its own 0-10 scale, in a second panel)."""
    unit = [m for m in metrics if m != "CIDEr"]
    panels = [group for group in (unit, [m for m in metrics if m == "CIDEr"]) if group]
    figure = Figure(figsize=(1.0 * len(metrics) + 2.5, 4.0))
    axes = np.atleast_1d(figure.subplots(1, len(panels), width_ratios=[len(p) for p in panels], squeeze=False)).ravel()
    for ax, group in zip(axes, panels, strict=True):
        data = [[scores[m] for scores in per_report.values() if m in scores] for m in group]
        ax.boxplot(data, tick_labels=list(group), showmeans=True)
        ax.tick_params(axis="x", labelrotation=30)
    axes[0].set_ylabel("Score per report")
    figure.suptitle(f"Report metrics over {len(per_report)} reports")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_clinical_efficacy(efficacy: ClinicalEfficacy, path: str | Path) -> Path:
    """Per-finding precision, recall and F1 as grouped bars."""
    labels = [a.finding.value for a in efficacy.per_finding]
    x = np.arange(len(labels))
    figure = Figure(figsize=(max(6.0, 0.6 * len(labels) + 2.0), 4.5))
    ax = figure.subplots()
    for k, (name, attr) in enumerate((("precision", "precision"), ("recall", "recall"), ("F1", "f1"))):
        ax.bar(x + (k - 1) * 0.27, [getattr(a.scores, attr) for a in efficacy.per_finding], width=0.27, label=name)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize="small")
    ax.set(ylim=(0, 1.05), ylabel="Score", title=f"Clinical efficacy (uncertain as {efficacy.uncertain.value})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(figure, path)
