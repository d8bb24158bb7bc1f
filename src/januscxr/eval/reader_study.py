"""Reader-study analysis: does reading with januscxr's draft change reading time and report quality?

For reading time, quality score and agreement score: mean and SD per arm, the difference
(AI-assisted minus standard) with a Welch 95% CI, Welch's t-test and the Mann-Whitney U test.
Those two treat reads as independent, which they are not when readers and cases recur; the
linear mixed model does not: ``outcome ~ arm`` with the random intercepts for reader and case
that the design identifies (:func:`study_design`; statsmodels MixedLM, REML); a fit that does
not converge gives no estimate. Expert
preference rates are counted per case with Wilson intervals; reading time is also compared
within subgroups by the number of findings in the case. Input columns: :mod:`januscxr.eval.reads`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from januscxr.errors import EvaluationInputError
from januscxr.eval.reads import Arm, Preference, Read, check_reads

logger = logging.getLogger(__name__)

OUTCOMES = ("reading_time_s", "quality_score", "agreement_score")
SUBGROUPS: tuple[tuple[str, int, int], ...] = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3+", 3, 10**9))


@dataclass(frozen=True)
class ArmSummary:
    """Reads, mean and sample SD of one outcome in one arm."""

    n: int
    mean: float
    sd: float


@dataclass(frozen=True)
class ArmComparison:
    """One outcome, AI-assisted against standard; ``difference`` is assisted minus standard."""

    outcome: str
    standard: ArmSummary
    assisted: ArmSummary
    difference: float
    ci: tuple[float, float]
    welch_t: float
    welch_df: float
    welch_p: float
    mann_whitney_u: float
    mann_whitney_p: float


@dataclass(frozen=True)
class RelativeChange:
    """``(standard - assisted) / standard`` of the arm means, with a delta-method CI."""

    estimate: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class MixedModelFit:
    """The arm effect (assisted minus standard) from the model the design identifies (``formula``,
    chosen by :func:`study_design` for the ``reason`` given); None variances: not in the model."""

    outcome: str
    effect: float
    se: float
    ci: tuple[float, float]
    p_value: float
    intercept: float
    reader_variance: float | None
    case_variance: float | None
    residual_variance: float
    converged: bool
    warnings: tuple[str, ...]
    formula: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PreferenceRate:
    """How many cases the expert panel preferred one way, with a Wilson interval."""

    preference: Preference
    count: int
    n_cases: int
    rate: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Subgroup:
    """Reading time compared within cases having a given number of findings (None: too few reads)."""

    label: str
    n_standard: int
    n_assisted: int
    comparison: ArmComparison | None


@dataclass(frozen=True)
class ReaderStudyAnalysis:
    """Everything :func:`analyze_reader_study` computes; ``notes`` say what could not be."""

    source: str
    synthetic: bool
    level: float
    n_reads: int
    n_readers: int
    n_cases: int
    comparisons: dict[str, ArmComparison]
    reading_time_reduction: RelativeChange
    mixed_model: MixedModelFit | None
    preferences: tuple[PreferenceRate, ...]
    subgroups: tuple[Subgroup, ...]
    notes: tuple[str, ...]


def analyze_reader_study(reads: Sequence[Read], *, level: float = 0.95, source: str = "reads") -> ReaderStudyAnalysis:
    """Analyse a reader study.

    Parameters
    ----------
    reads : sequence of Read
        The reads (see :func:`januscxr.eval.reads.read_reads`); both arms need two reads or more.
    level : float
        Confidence level of every interval.
    source : str
        Where the reads came from, for the output and error messages.

    Returns
    -------
    ReaderStudyAnalysis
    """
    check_reads(reads, source=source)
    counts = {arm: sum(r.arm is arm for r in reads) for arm in Arm}
    if min(counts.values()) < 2:
        raise EvaluationInputError(
            f"{source}: {counts[Arm.STANDARD]} standard and {counts[Arm.AI_ASSISTED]} ai_assisted reads; expected at least 2 in each arm"
        )
    notes: list[str] = []
    mixed = None
    try:
        mixed = fit_mixed_model(reads, "reading_time_s", level=level)
    except EvaluationInputError as error:
        notes.append(f"mixed model not fitted: {error}")
    return ReaderStudyAnalysis(
        source=source,
        synthetic=any(r.synthetic for r in reads),
        level=level,
        n_reads=len(reads),
        n_readers=len({r.reader_id for r in reads}),
        n_cases=len({r.case_id for r in reads}),
        comparisons={outcome: compare_arms(reads, outcome, level=level) for outcome in OUTCOMES},
        reading_time_reduction=relative_reduction(reads, "reading_time_s", level=level),
        mixed_model=mixed,
        preferences=preference_rates(reads, level=level),
        subgroups=_subgroups(reads, level),
        notes=tuple(notes),
    )


def compare_arms(reads: Sequence[Read], outcome: str, *, level: float = 0.95) -> ArmComparison:
    """Mean ± SD per arm, Welch difference with CI, Welch's t and Mann-Whitney U for one outcome."""
    standard, assisted = _values(reads, outcome, Arm.STANDARD), _values(reads, outcome, Arm.AI_ASSISTED)
    if standard.size < 2 or assisted.size < 2:
        raise EvaluationInputError(
            f"{outcome}: {standard.size} standard and {assisted.size} assisted reads; expected 2 or more each"
        )
    with warnings.catch_warnings():
        # Constant values in both arms (e.g. every quality score 4): the t-test is undefined and
        # returns NaN, which the outputs show as "–"; scipy's precision warning adds nothing.
        warnings.simplefilter("ignore", RuntimeWarning)
        welch = stats.ttest_ind(assisted, standard, equal_var=False)
        low, high = welch.confidence_interval(confidence_level=level)
    mann_whitney = stats.mannwhitneyu(assisted, standard, alternative="two-sided")
    return ArmComparison(
        outcome=outcome,
        standard=_summary(standard),
        assisted=_summary(assisted),
        difference=float(assisted.mean() - standard.mean()),
        ci=(float(low), float(high)),
        welch_t=float(welch.statistic),
        welch_df=float(welch.df),
        welch_p=float(welch.pvalue),
        mann_whitney_u=float(mann_whitney.statistic),
        mann_whitney_p=float(mann_whitney.pvalue),
    )


def relative_reduction(
    reads: Sequence[Read], outcome: str = "reading_time_s", *, level: float = 0.95
) -> RelativeChange:
    """``1 - mean(assisted) / mean(standard)`` with a delta-method CI (arms taken as independent)."""
    standard, assisted = _values(reads, outcome, Arm.STANDARD), _values(reads, outcome, Arm.AI_ASSISTED)
    ratio = assisted.mean() / standard.mean()
    relative_var = assisted.var(ddof=1) / (assisted.size * assisted.mean() ** 2) + standard.var(ddof=1) / (
        standard.size * standard.mean() ** 2
    )
    half = float(stats.norm.ppf(0.5 + level / 2.0) * abs(ratio) * np.sqrt(relative_var))
    return RelativeChange(estimate=float(1.0 - ratio), ci=(float(1.0 - ratio - half), float(1.0 - ratio + half)))


def fit_mixed_model(reads: Sequence[Read], outcome: str = "reading_time_s", *, level: float = 0.95) -> MixedModelFit:
    """Fit ``outcome ~ assisted`` with the random intercepts the study's design can identify (REML).

    A reader intercept needs two readers or more with repeated reads; a case intercept needs
    cases read in both arms: a case read in only one arm (the Janus-Pro-CXR trial read each case
    once, in an arm drawn per case) carries no information on its own effect apart from the
    residual, and a model that asks for it cannot be identified. :func:`study_design` says which
    model was chosen and why.

    Parameters
    ----------
    reads : sequence of Read
        Two readers or more, two cases or more, both arms present.
    outcome : {"reading_time_s", "quality_score", "agreement_score"}
        The column modelled.
    level : float
        Confidence level of the Wald interval of the arm effect.

    Returns
    -------
    MixedModelFit
        Non-fatal statsmodels warnings (an estimate on the boundary) are kept in ``warnings``.

    Raises
    ------
    EvaluationInputError
        Too few readers or cases, or a fit that did not converge: no estimate is returned then.
    """
    n_readers, n_cases = len({r.reader_id for r in reads}), len({r.case_id for r in reads})
    if n_readers < 2 or n_cases < 2 or len({r.arm for r in reads}) < 2:
        raise EvaluationInputError(
            f"{n_readers} reader(s), {n_cases} case(s); expected 2 or more of each and both arms"
        )
    design = study_design(reads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit, variances = _fit(reads, outcome, design)
        except (np.linalg.LinAlgError, ValueError) as error:
            raise EvaluationInputError(f"mixed model of {outcome} could not be fitted ({error})") from error
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    for message in messages:
        logger.warning("MixedLM %s: %s", outcome, message)
    failed = [m for m in messages if any(word in m.lower() for word in _NOT_CONVERGED)]
    if not bool(getattr(fit, "converged", True)) or failed:
        raise EvaluationInputError(
            f"the model of {outcome} ({design.formula}) did not converge ({'; '.join(failed) or 'no convergence'}); "
            "no estimate is reported"
        )
    low, high = np.asarray(fit.conf_int(alpha=1.0 - level)).astype(np.float64)[1]
    return MixedModelFit(
        outcome=outcome,
        effect=float(fit.params.iloc[1]),
        se=float(fit.bse.iloc[1]),
        ci=(float(low), float(high)),
        p_value=float(fit.pvalues.iloc[1]),
        intercept=float(fit.params.iloc[0]),
        reader_variance=variances.get("reader"),
        case_variance=variances.get("case"),
        residual_variance=float(fit.scale),
        converged=True,
        warnings=messages,
        formula=design.formula,
        reason=design.reason,
    )


# statsmodels' words for a fit whose standard errors cannot be trusted even when it says it converged
# (a retry that succeeded after "failed to converge" leaves converged True and is fine).
_NOT_CONVERGED = ("not positive definite", "singular matrix")


@dataclass(frozen=True)
class StudyDesign:
    """Which random intercepts the reads can identify, the formula fitted and why."""

    reader_effect: bool
    case_effect: bool
    cases_in_both_arms: int
    formula: str
    reason: str


def study_design(reads: Sequence[Read]) -> StudyDesign:
    """Choose the model from the design: a reader intercept when readers repeat, a case intercept
    only when cases were read in both arms (otherwise it is confounded with the residual)."""
    arms_of_case: dict[str, set[Arm]] = {}
    reads_of_reader: dict[str, int] = {}
    for read in reads:
        arms_of_case.setdefault(read.case_id, set()).add(read.arm)
        reads_of_reader[read.reader_id] = reads_of_reader.get(read.reader_id, 0) + 1
    both = sum(len(arms) == 2 for arms in arms_of_case.values())
    reader = len(reads_of_reader) >= 2 and max(reads_of_reader.values()) >= 2
    case = both >= 2
    terms = ["arm", *(["(1 | reader)"] if reader else []), *(["(1 | case)"] if case else [])]
    reasons = [
        f"{both} of {len(arms_of_case)} cases were read in both arms"
        + ("" if case else ", so a case effect cannot be told from the residual and is left out"),
        f"{len(reads_of_reader)} readers" + (" with repeated reads" if reader else " without repeated reads"),
    ]
    return StudyDesign(reader, case, both, f"y ~ {' + '.join(terms)}", "; ".join(reasons))


def _fit(reads: Sequence[Read], outcome: str, design: StudyDesign) -> tuple[Any, dict[str, float]]:
    """The fitted statsmodels result and its variance components by name."""
    import pandas as pd  # type: ignore[import-untyped]
    import statsmodels.formula.api as smf  # type: ignore[import-untyped]

    frame = pd.DataFrame(
        {
            "y": _values(reads, outcome, None),
            "assisted": [float(r.arm is Arm.AI_ASSISTED) for r in reads],
            "reader": [r.reader_id for r in reads],
            "case": [r.case_id for r in reads],
        }
    )
    if not design.reader_effect and not design.case_effect:
        return smf.ols("y ~ assisted", frame).fit(), {}
    if design.reader_effect and design.case_effect:
        # One group: reader and case effects are crossed variance components.
        model = smf.mixedlm(
            "y ~ assisted",
            frame,
            groups=np.zeros(len(frame)),
            re_formula="0",
            vc_formula={"reader": "0 + C(reader)", "case": "0 + C(case)"},
        )
        fit = model.fit(reml=True)
        names = model.exog_vc.names
        return fit, dict(zip(names, map(float, np.asarray(fit.vcomp, dtype=np.float64)), strict=True))
    name = "reader" if design.reader_effect else "case"
    # Powell first, then L-BFGS: statsmodels' default gradient search stalls on a handful of groups.
    fit = smf.mixedlm("y ~ assisted", frame, groups=frame[name]).fit(reml=True, method=["powell", "lbfgs"])
    return fit, {name: float(np.asarray(fit.cov_re, dtype=np.float64).ravel()[0])}


def preference_rates(reads: Sequence[Read], *, level: float = 0.95) -> tuple[PreferenceRate, ...]:
    """The share of cases with each expert preference, with Wilson score intervals."""
    per_case = {r.case_id: r.expert_preference for r in reads}
    n = len(per_case)
    rates = []
    for preference in Preference:
        count = sum(p is preference for p in per_case.values())
        rates.append(
            PreferenceRate(
                preference, count, n, count / n if n else float("nan"), wilson_interval(count, n, level=level)
            )
        )
    return tuple(rates)


def wilson_interval(count: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``count / n`` (no continuity correction)."""
    if n == 0:
        return (float("nan"), float("nan"))
    interval = stats.binomtest(count, n).proportion_ci(confidence_level=level, method="wilson")
    return (float(interval.low), float(interval.high))


def _subgroups(reads: Sequence[Read], level: float) -> tuple[Subgroup, ...]:
    """Reading time compared within each band of ``n_findings``."""
    result = []
    for label, low, high in SUBGROUPS:
        members = [r for r in reads if low <= r.n_findings <= high]
        n_standard = sum(r.arm is Arm.STANDARD for r in members)
        n_assisted = len(members) - n_standard
        comparison = compare_arms(members, "reading_time_s", level=level) if min(n_standard, n_assisted) >= 2 else None
        result.append(Subgroup(label, n_standard, n_assisted, comparison))
    return tuple(result)


def _values(reads: Sequence[Read], outcome: str, arm: Arm | None) -> npt.NDArray[np.float64]:
    """One outcome of the reads in ``arm`` (all reads when None)."""
    if outcome not in OUTCOMES:
        raise EvaluationInputError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    return np.array([float(getattr(r, outcome)) for r in reads if arm is None or r.arm is arm], dtype=np.float64)


def _summary(values: npt.NDArray[np.float64]) -> ArmSummary:
    return ArmSummary(n=int(values.size), mean=float(values.mean()), sd=float(values.std(ddof=1)))
