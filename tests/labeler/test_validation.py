"""Scoring against MeSH, on reports and codes written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from januscxr.errors import ReportInputError
from januscxr.labeler.validation import (
    Category,
    CodedReport,
    format_table,
    read_coded_reports,
    score_reports,
)
from januscxr.labels import Finding

EFFUSION = frozenset({Finding.PLEURAL_EFFUSION})


def report(
    text: str, findings: frozenset[Finding] = frozenset(), borderline: frozenset[Finding] = frozenset()
) -> CodedReport:
    return CodedReport("r", "train", text, findings, borderline)


REPORTS = [
    report("Small left pleural effusion.", EFFUSION),  # TP
    report("Moderate right pleural effusion.", EFFUSION),  # TP
    report("Possible small pleural effusion.", EFFUSION),  # FN (uncertain is not counted)
    report("Trace pleural effusion.", frozenset()),  # FP
    report("No pleural effusion.", frozenset()),  # TN
]


def test_precision_recall_f1() -> None:
    (score,) = score_reports(REPORTS, categories=[Category.PLEURAL_EFFUSION], n_bootstrap=200)
    assert (score.true_positives, score.false_positives, score.false_negatives, score.support) == (2, 1, 1, 3)
    assert score.precision == pytest.approx(2 / 3)
    assert score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 / 3)
    for low, high in (score.precision_ci, score.recall_ci, score.f1_ci):
        assert 0.0 <= low <= high <= 1.0
    assert score.f1_ci[0] <= score.f1 <= score.f1_ci[1]
    assert not score.meets_target


def test_counting_uncertain_as_positive() -> None:
    (score,) = score_reports(REPORTS, categories=[Category.PLEURAL_EFFUSION], count_uncertain=True, n_bootstrap=50)
    assert (score.true_positives, score.false_negatives) == (3, 0)


def test_the_bootstrap_is_seeded() -> None:
    first = score_reports(REPORTS, categories=[Category.PLEURAL_EFFUSION], n_bootstrap=100, seed=7)
    again = score_reports(REPORTS, categories=[Category.PLEURAL_EFFUSION], n_bootstrap=100, seed=7)
    assert first == again


def test_combined_category_and_borderline_masking() -> None:
    reports = [
        report("Right lower lobe pneumonia.", frozenset({Finding.PNEUMONIA})),
        report("Lingular consolidation.", frozenset({Finding.CONSOLIDATION})),
        report("Borderline cardiomegaly.", borderline=frozenset({Finding.CARDIOMEGALY})),
        report("Heart size is normal."),
    ]
    combined, heart = score_reports(
        reports, categories=[Category.CONSOLIDATION_PNEUMONIA, Category.CARDIOMEGALY], n_bootstrap=20
    )
    assert (combined.true_positives, combined.false_positives, combined.false_negatives) == (2, 0, 0)
    assert heart.support == 0 and heart.false_positives == 0  # the borderline report is not scored
    assert Category.CONSOLIDATION_PNEUMONIA.findings == {Finding.CONSOLIDATION, Finding.PNEUMONIA}
    assert Category.NO_FINDING.target_f1 == 0.93 and Category.LUNG_OPACITY.target_f1 is None


def test_format_table_marks_misses() -> None:
    table = format_table(score_reports(REPORTS, categories=[Category.PLEURAL_EFFUSION], n_bootstrap=20))
    assert table.splitlines()[2].startswith("| Pleural Effusion | 0.92 | 3 | 0.667 (")
    assert "**below target**" in table


def test_read_coded_reports(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(
        "report_id,split,findings,impression,mesh_major\n"
        '1,train,Small left pleural effusion.,,"Pleural Effusion/left/small"\n'
        "2,val,,No acute disease.,normal\n"
        "3,train,Heart is normal.,,No Indexing\n"
        "4,train,,,normal\n",
        encoding="utf-8",
    )
    coded = read_coded_reports(path)
    assert [r.report_id for r in coded.reports] == ["1", "2"]
    assert coded.reports[0].findings == EFFUSION
    assert coded.reports[1].findings == {Finding.NO_FINDING}
    assert (coded.not_indexed, coded.empty_text) == (1, 1)


def test_read_coded_reports_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_text("findings,impression\nx,y\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="mesh_major"):
        read_coded_reports(path)
