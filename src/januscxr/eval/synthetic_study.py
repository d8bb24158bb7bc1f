"""A seeded, synthetic reader study with a planted effect, for testing and demonstrating the analysis.

SYNTHETIC DATA: every read it makes has ``synthetic=True`` (a ``synthetic`` column of ``true``
in the CSV) and every analysis of it says so. The default effect is the one reported for the
Janus-Pro-CXR trial: mean reading time 146.6 s in the standard arm and 119.4 s with AI
assistance. No real reads are involved.

Designs: ``crossed`` (every reader reads every case once in each arm) or ``per_case`` (the
Janus-Pro-CXR trial's: each case is read once, by one reader, in an arm drawn per case). The
reading time of reader r on case c in arm a is::

    mean[a] + reader[r] + case[c] + slope * (n_findings[c] - mean n_findings) + noise

with reader ~ N(0, reader_sd_s), case ~ N(0, case_sd_s), noise ~ N(0, residual_sd_s) and
times floored at 10 s; quality and agreement scores are rounded, clipped normal scores 1-5.
"""

from __future__ import annotations

import numpy as np

from januscxr.errors import EvaluationInputError
from januscxr.eval.reads import Arm, Preference, Read

JANUS_PRO_CXR_STANDARD_TIME_S = 146.6
JANUS_PRO_CXR_ASSISTED_TIME_S = 119.4

_MIN_TIME_S = 10.0
_SECONDS_PER_FINDING = 8.0
_QUALITY_MEAN = {Arm.STANDARD: 3.6, Arm.AI_ASSISTED: 4.0}
_AGREEMENT_MEAN = {Arm.STANDARD: 3.8, Arm.AI_ASSISTED: 4.1}
_PREFERENCE_P = {Preference.AI_ASSISTED: 0.55, Preference.STANDARD: 0.25, Preference.NO_PREFERENCE: 0.20}


def generate_reader_study(
    *,
    n_readers: int = 6,
    n_cases: int = 50,
    seed: int = 0,
    standard_time_s: float = JANUS_PRO_CXR_STANDARD_TIME_S,
    assisted_time_s: float = JANUS_PRO_CXR_ASSISTED_TIME_S,
    reader_sd_s: float = 15.0,
    case_sd_s: float = 20.0,
    residual_sd_s: float = 18.0,
    design: str = "crossed",
) -> list[Read]:
    """Make a synthetic reader study (all reads marked ``synthetic``).

    Parameters
    ----------
    n_readers, n_cases : int
        Readers and cases; the study has ``2 * n_readers * n_cases`` reads.
    seed : int
        Seed of every random draw: the same arguments give the same reads.
    standard_time_s, assisted_time_s : float
        The planted mean reading times of the two arms.
    reader_sd_s, case_sd_s, residual_sd_s : float
        Standard deviations of the reader, case and residual effects on reading time.
    design : {"crossed", "per_case"}
        ``crossed``: ``2 * n_readers * n_cases`` reads. ``per_case``: ``n_cases`` reads, each case
        read once by a reader and in an arm drawn at random (the paper's prospective trial).

    Returns
    -------
    list of Read
        Ordered by case, reader, then arm (standard first).
    """
    if design not in {"crossed", "per_case"}:
        raise EvaluationInputError(f"unknown design {design!r}; expected crossed or per_case")
    if n_readers < 2 or n_cases < 2:
        raise EvaluationInputError(f"a study needs at least 2 readers and 2 cases; asked for {n_readers} and {n_cases}")
    rng = np.random.default_rng(seed)
    reader_effect = rng.normal(0.0, reader_sd_s, n_readers)  # (R,)
    case_effect = rng.normal(0.0, case_sd_s, n_cases)  # (C,)
    n_findings = np.minimum(rng.poisson(1.2, n_cases), 6)  # (C,)
    reader_skill = rng.normal(0.0, 0.3, n_readers)  # (R,) shifts quality and agreement
    choices = list(_PREFERENCE_P)
    preference = rng.choice(len(choices), size=n_cases, p=list(_PREFERENCE_P.values()))
    means = {Arm.STANDARD: standard_time_s, Arm.AI_ASSISTED: assisted_time_s}
    centred_findings = n_findings - n_findings.mean()
    reads = []
    for c in range(n_cases):
        for r, arm in _reads_of_case(rng, n_readers, design):
            time_s = means[arm] + reader_effect[r] + case_effect[c] + _SECONDS_PER_FINDING * centred_findings[c]
            reads.append(
                Read(
                    case_id=f"case-{c + 1:04d}",
                    reader_id=f"reader-{r + 1:02d}",
                    arm=arm,
                    reading_time_s=round(max(_MIN_TIME_S, time_s + rng.normal(0.0, residual_sd_s)), 1),
                    quality_score=_likert(rng, _QUALITY_MEAN[arm] + reader_skill[r]),
                    agreement_score=float(_likert(rng, _AGREEMENT_MEAN[arm] + reader_skill[r])),
                    expert_preference=choices[int(preference[c])],
                    n_findings=int(n_findings[c]),
                    synthetic=True,
                )
            )
    return reads


def _reads_of_case(rng: np.random.Generator, n_readers: int, design: str) -> list[tuple[int, Arm]]:
    """Who reads a case, in which arm."""
    if design == "per_case":
        return [(int(rng.integers(n_readers)), Arm.STANDARD if rng.random() < 0.5 else Arm.AI_ASSISTED)]
    return [(r, arm) for r in range(n_readers) for arm in (Arm.STANDARD, Arm.AI_ASSISTED)]


def _likert(rng: np.random.Generator, mean: float) -> int:
    """A 1-5 score: a normal draw around ``mean``, rounded and clipped."""
    return int(np.clip(np.rint(rng.normal(mean, 0.7)), 1, 5))
