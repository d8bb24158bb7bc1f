"""Reader-study analysis: the mixed model recovers a planted effect; statistics by hand; bad reads CSVs."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from januscxr.errors import EvaluationInputError
from januscxr.eval.reader_study import (
    analyze_reader_study,
    compare_arms,
    fit_mixed_model,
    relative_reduction,
    study_design,
    wilson_interval,
)
from januscxr.eval.reads import REQUIRED_COLUMNS, Arm, Preference, Read, read_reads, write_reads
from januscxr.eval.synthetic_study import (
    JANUS_PRO_CXR_ASSISTED_TIME_S,
    JANUS_PRO_CXR_STANDARD_TIME_S,
    generate_reader_study,
)

PLANTED = JANUS_PRO_CXR_ASSISTED_TIME_S - JANUS_PRO_CXR_STANDARD_TIME_S  # -27.2 s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_model_recovers_the_planted_effect_within_its_ci(seed: int) -> None:
    fit = fit_mixed_model(generate_reader_study(seed=seed), "reading_time_s")
    assert fit.converged and not fit.warnings
    assert fit.ci[0] <= PLANTED <= fit.ci[1]
    assert fit.effect == pytest.approx(PLANTED, abs=3.0)
    assert fit.intercept == pytest.approx(JANUS_PRO_CXR_STANDARD_TIME_S, abs=15.0)
    assert fit.case_variance > 0 and fit.residual_variance > 0


def test_mixed_model_with_no_effect_has_a_ci_around_zero() -> None:
    reads = generate_reader_study(seed=3, standard_time_s=130.0, assisted_time_s=130.0)
    fit = fit_mixed_model(reads)
    assert fit.ci[0] <= 0.0 <= fit.ci[1]


def test_generator_is_seeded_and_marks_every_read_synthetic() -> None:
    first = generate_reader_study(n_readers=3, n_cases=4, seed=11)
    assert first == generate_reader_study(n_readers=3, n_cases=4, seed=11)
    assert first != generate_reader_study(n_readers=3, n_cases=4, seed=12)
    assert len(first) == 2 * 3 * 4 and all(r.synthetic for r in first)
    assert all(1 <= r.quality_score <= 5 and r.reading_time_s >= 10.0 for r in first)


def test_reads_round_trip_through_csv(tmp_path: Path) -> None:
    reads = generate_reader_study(n_readers=2, n_cases=3, seed=0)
    table = read_reads(write_reads(reads, tmp_path / "reads.csv"))
    assert list(table.reads) == reads
    assert table.synthetic and table.ignored_columns == ()


def test_analysis_of_the_synthetic_study() -> None:
    reads = generate_reader_study(seed=0)
    analysis = analyze_reader_study(reads)
    assert analysis.synthetic
    assert (analysis.n_reads, analysis.n_readers, analysis.n_cases) == (600, 6, 50)
    time = analysis.comparisons["reading_time_s"]
    assert time.difference == pytest.approx(time.assisted.mean - time.standard.mean)
    assert time.ci[0] < PLANTED < time.ci[1] and time.welch_p < 1e-6
    assert analysis.reading_time_reduction.estimate == pytest.approx(1 - time.assisted.mean / time.standard.mean)
    assert analysis.mixed_model is not None
    assert sum(p.count for p in analysis.preferences) == 50
    assert sum(g.n_standard + g.n_assisted for g in analysis.subgroups) == 600


def test_welch_and_mann_whitney_by_hand() -> None:
    standard = [100.0, 120.0, 140.0]
    assisted = [90.0, 95.0, 110.0, 105.0]
    reads = [_read(f"s{k}", "r1", Arm.STANDARD, t) for k, t in enumerate(standard)]
    reads += [_read(f"a{k}", "r1", Arm.AI_ASSISTED, t) for k, t in enumerate(assisted)]
    c = compare_arms(reads, "reading_time_s")
    assert (c.standard.mean, c.standard.sd) == pytest.approx((120.0, 20.0))
    assert c.difference == pytest.approx(100.0 - 120.0)
    va, vs = np.var(assisted, ddof=1) / 4, np.var(standard, ddof=1) / 3
    df = (va + vs) ** 2 / (va**2 / 3 + vs**2 / 2)  # Welch-Satterthwaite
    assert c.welch_df == pytest.approx(df)
    assert c.welch_t == pytest.approx(-20.0 / math.sqrt(va + vs))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vs)
    assert c.ci == pytest.approx((-20.0 - half, -20.0 + half))
    # U of the assisted arm: pairs (assisted > standard) + ties / 2: 110 > 100 and 105 > 100 -> 2.
    assert c.mann_whitney_u == 2.0
    r = relative_reduction(reads)
    assert r.estimate == pytest.approx(20.0 / 120.0)
    assert r.ci[0] < r.estimate < r.ci[1]


def test_wilson_interval_by_hand() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + z²/20) / (1 + z²/10), half z sqrt(0.8 * 0.2 / 10 + z²/400) / (1 + z²/10)
    z = stats.norm.ppf(0.975)
    centre = (0.8 + z**2 / 20) / (1 + z**2 / 10)
    half = z * math.sqrt(0.016 + z**2 / 400) / (1 + z**2 / 10)
    assert wilson_interval(8, 10) == pytest.approx((centre - half, centre + half))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_a_small_study_reports_why_the_mixed_model_was_skipped() -> None:
    reads = [_read("c1", "r1", Arm.STANDARD, 100.0), _read("c2", "r1", Arm.STANDARD, 110.0)]
    reads += [_read("c1", "r1", Arm.AI_ASSISTED, 90.0), _read("c2", "r1", Arm.AI_ASSISTED, 95.0)]
    analysis = analyze_reader_study(reads)
    assert analysis.mixed_model is None
    assert "1 reader(s)" in analysis.notes[0]


def test_one_arm_only_raises() -> None:
    reads = [_read("c1", "r1", Arm.STANDARD, 100.0), _read("c2", "r1", Arm.STANDARD, 110.0)]
    with pytest.raises(EvaluationInputError, match="0 ai_assisted reads"):
        analyze_reader_study(reads)


def _write(tmp_path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    path = tmp_path / "reads.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(**changes: str) -> dict[str, str]:
    row = {
        "case_id": "c1",
        "reader_id": "r1",
        "arm": "standard",
        "reading_time_s": "120.5",
        "quality_score": "4",
        "agreement_score": "3.5",
        "expert_preference": "ai_assisted",
        "n_findings": "2",
    }
    return row | changes


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(reading_time_s="")], r"line 2, column 'reading_time_s' is empty"),
        ([_row(), _row(arm="assisted")], r"line 3, column 'arm' is 'assisted'; expected 'ai_assisted' or 'standard'"),
        ([_row(quality_score="6")], r"line 2, column 'quality_score' is '6'; expected an integer 1 to 5"),
        ([_row(quality_score="3.5")], r"column 'quality_score' is '3.5'"),
        ([_row(reading_time_s="-3")], r"column 'reading_time_s' is '-3'; expected seconds > 0"),
        ([_row(agreement_score="nan")], r"column 'agreement_score' is 'nan'"),
        ([_row(n_findings="two")], r"column 'n_findings' is 'two'"),
        (
            [_row(), _row()],
            r"line 3 repeats the read of case 'c1' by reader 'r1' in arm 'standard' \(first at line 2\)",
        ),
        ([_row(), _row(arm="ai_assisted", expert_preference="standard")], r"line 3, column 'expert_preference'"),
        ([_row(synthetic="maybe")], r"column 'synthetic' is 'maybe'"),
    ],
)
def test_bad_cells_raise_naming_line_and_column(tmp_path: Path, rows: list[dict[str, str]], message: str) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with pytest.raises(EvaluationInputError, match=message):
        read_reads(_write(tmp_path, rows, columns))


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    row = _row()
    del row["arm"], row["n_findings"]
    with pytest.raises(EvaluationInputError, match=r"missing column\(s\) arm, n_findings"):
        read_reads(_write(tmp_path, [row]))


def test_empty_file_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(",".join(REQUIRED_COLUMNS) + "\n")
    with pytest.raises(EvaluationInputError, match="no reads"):
        read_reads(path)
    table = read_reads(_write(tmp_path, [_row(site="A")]))
    assert table.ignored_columns == ("site",) and not table.synthetic


def _read(case: str, reader: str, arm: Arm, time_s: float) -> Read:
    return Read(case, reader, arm, time_s, 4, 4.0, Preference.NO_PREFERENCE, 1)


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_the_papers_design_fits_without_a_case_effect_and_recovers_the_effect(seed: int) -> None:
    # 297 cases read once each, arm drawn per case, 6 readers: a case intercept is not identifiable.
    reads = generate_reader_study(n_readers=6, n_cases=297, seed=seed, design="per_case")
    assert len(reads) == 297 and len({r.case_id for r in reads}) == 297
    design = study_design(reads)
    assert design.reader_effect and not design.case_effect and design.cases_in_both_arms == 0
    fit = fit_mixed_model(reads, "reading_time_s")
    assert fit.formula == "y ~ arm + (1 | reader)" and fit.case_variance is None
    assert "0 of 297 cases were read in both arms" in fit.reason
    assert fit.converged and not fit.warnings
    assert fit.ci[0] <= PLANTED <= fit.ci[1]


def test_a_crossed_design_keeps_both_random_intercepts() -> None:
    design = study_design(generate_reader_study(n_readers=3, n_cases=10, seed=0))
    assert design.reader_effect and design.case_effect and design.formula == "y ~ arm + (1 | reader) + (1 | case)"


def test_a_fit_that_does_not_converge_gives_no_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    from januscxr.eval import reader_study

    real_fit = reader_study._fit

    def failing_fit(*args: object) -> object:
        warnings.warn(
            "Hessian matrix at the estimated parameter values is not positive definite.",
            ConvergenceWarning,
            stacklevel=2,
        )
        return real_fit(*args)

    monkeypatch.setattr(reader_study, "_fit", failing_fit)
    with pytest.raises(EvaluationInputError, match="did not converge.*no estimate"):
        fit_mixed_model(generate_reader_study(n_readers=3, n_cases=10, seed=0))
    analysis = analyze_reader_study(generate_reader_study(n_readers=3, n_cases=10, seed=0))
    assert analysis.mixed_model is None and "no estimate is reported" in analysis.notes[0]
