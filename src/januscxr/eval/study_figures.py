"""PNG figures of a reader study: reading time by arm, by reader and by number of findings; scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from januscxr.eval.figures import save_figure
from januscxr.eval.reader_study import ReaderStudyAnalysis
from januscxr.eval.reads import Arm, Read

_ARMS = (Arm.STANDARD, Arm.AI_ASSISTED)
_LABELS = {Arm.STANDARD: "Standard", Arm.AI_ASSISTED: "AI-assisted"}
_MAX_CATEGORIES = 12


def plot_reader_study(reads: Sequence[Read], analysis: ReaderStudyAnalysis, folder: str | Path) -> list[Path]:
    """Write the reader-study figures into ``folder``.

    Parameters
    ----------
    reads : sequence of Read
        The reads analysed.
    analysis : ReaderStudyAnalysis
        Their analysis (for the subgroup intervals).
    folder : path
        Where the PNG files go.

    Returns
    -------
    list of Path
        ``reading_time_by_arm.png``, ``reading_time_by_reader.png``,
        ``reading_time_by_findings.png`` and ``scores_by_arm.png``.
    """
    folder = Path(folder)
    banner = " (SYNTHETIC DATA)" if analysis.synthetic else ""
    return [
        _time_by_arm(reads, folder / "reading_time_by_arm.png", banner),
        _time_by_reader(reads, folder / "reading_time_by_reader.png", banner),
        _time_by_findings(analysis, folder / "reading_time_by_findings.png", banner),
        _scores_by_arm(reads, folder / "scores_by_arm.png", banner),
    ]


def _time_by_arm(reads: Sequence[Read], path: Path, banner: str) -> Path:
    """Box plot with jittered points of reading time per arm."""
    figure = Figure(figsize=(5.0, 4.5))
    ax = figure.subplots()
    data = [[r.reading_time_s for r in reads if r.arm is arm] for arm in _ARMS]
    ax.boxplot(data, tick_labels=[_LABELS[a] for a in _ARMS], showmeans=True, showfliers=False)
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    for k, values in enumerate(data, start=1):
        ax.scatter(k + rng.uniform(-0.15, 0.15, len(values)), values, s=6, alpha=0.35, color=f"C{k - 1}")
    ax.set(ylabel="Reading time (s)", title=f"Reading time by arm{banner}")
    return save_figure(figure, path)


def _time_by_reader(reads: Sequence[Read], path: Path, banner: str) -> Path:
    """Each reader's mean reading time in the two arms, joined by a line."""
    figure = Figure(figsize=(5.0, 4.5))
    ax = figure.subplots()
    for reader in sorted({r.reader_id for r in reads}):
        means = [
            np.mean([r.reading_time_s for r in reads if r.reader_id == reader and r.arm is arm] or [np.nan])
            for arm in _ARMS
        ]
        ax.plot([0, 1], means, marker="o", linewidth=1.0, alpha=0.8, label=reader)
    ax.set_xticks([0, 1], [_LABELS[a] for a in _ARMS])
    ax.set(xlim=(-0.3, 1.3), ylabel="Mean reading time (s)", title=f"Reading time per reader{banner}")
    ax.legend(fontsize="x-small", ncol=2)
    return save_figure(figure, path)


def _time_by_findings(analysis: ReaderStudyAnalysis, path: Path, banner: str) -> Path:
    """Mean reading time per arm within each number-of-findings band, with normal CIs of the means."""
    figure = Figure(figsize=(6.0, 4.5))
    ax = figure.subplots()
    groups = [g for g in analysis.subgroups if g.comparison is not None]
    z = float(norm.ppf(0.5 + analysis.level / 2.0))
    x = np.arange(len(groups))
    for k, arm in enumerate(_ARMS):
        summaries = [
            g.comparison.standard if arm is Arm.STANDARD else g.comparison.assisted for g in groups if g.comparison
        ]
        means = [s.mean for s in summaries]
        errors = [z * s.sd / np.sqrt(s.n) for s in summaries]
        ax.bar(x + (k - 0.5) * 0.38, means, width=0.38, yerr=errors, capsize=3, label=_LABELS[arm])
    ax.set_xticks(x, [g.label for g in groups])
    ax.set(
        xlabel="Findings in the case",
        ylabel="Mean reading time (s)",
        title=f"Reading time by number of findings{banner}",
    )
    ax.legend(fontsize="small")
    return save_figure(figure, path)


def _scores_by_arm(reads: Sequence[Read], path: Path, banner: str) -> Path:
    """Distribution of quality and agreement scores per arm."""
    figure = Figure(figsize=(9.0, 4.0))
    axes = figure.subplots(1, 2)
    for ax, outcome, name in zip(
        axes, ("quality_score", "agreement_score"), ("Quality score", "Agreement score"), strict=True
    ):
        values = sorted({float(getattr(r, outcome)) for r in reads})
        if len(values) > _MAX_CATEGORIES:  # a continuous score: histograms instead of bars per value
            for arm in _ARMS:
                arm_values = [float(getattr(r, outcome)) for r in reads if r.arm is arm]
                ax.hist(arm_values, bins=20, alpha=0.5, density=True, label=_LABELS[arm])
            ax.set(xlabel=name, ylabel="Density", title=f"{name}{banner}")
            ax.legend(fontsize="small")
            continue
        x = np.arange(len(values))
        for k, arm in enumerate(_ARMS):
            arm_values = [float(getattr(r, outcome)) for r in reads if r.arm is arm]
            shares = [arm_values.count(v) / max(len(arm_values), 1) for v in values]
            ax.bar(x + (k - 0.5) * 0.38, shares, width=0.38, label=_LABELS[arm])
        ax.set_xticks(x, [f"{v:g}" for v in values])
        ax.set(xlabel=name, ylabel="Share of reads", title=f"{name}{banner}")
        ax.legend(fontsize="small")
    figure.tight_layout()
    return save_figure(figure, path)
