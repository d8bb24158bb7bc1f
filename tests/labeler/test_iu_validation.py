"""The labeler against the manually coded MeSH terms of the IU chest X-ray reports.

Needs ``iu_xray/reports.csv`` under ``$JANUSCXR_DATA`` (default ``<repo>/../shared/data``);
skipped where it is absent. Fails if any F1 falls below its target (docs/labeler.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from januscxr.labeler.rules import _SCANNER
from januscxr.labeler.scanner import compile_lexicon
from januscxr.labeler.validation import REPORTS_CSV, TARGET_F1, format_table, read_coded_reports, score_reports

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("JANUSCXR_DATA", REPO.parent / "shared" / "data"))

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def reports_csv() -> Path:
    path = DATA / REPORTS_CSV
    if not path.is_file():
        pytest.skip(f"IU reports not found at {path} (set JANUSCXR_DATA)")
    return path


def test_every_f1_meets_its_target(reports_csv: Path) -> None:
    coded = read_coded_reports(reports_csv)
    assert len(coded.reports) > 3000
    scores = score_reports(coded.reports, categories=tuple(TARGET_F1), n_bootstrap=200)
    missed = [s for s in scores if not s.meets_target]
    assert not missed, "\n" + format_table(scores)


def test_the_scanner_finds_what_finditer_finds_on_every_report(reports_csv: Path) -> None:
    texts = [r.text.lower() for r in read_coded_reports(reports_csv).reports]
    patterns = [compile_lexicon(groups) for groups in _SCANNER.lexicons]
    for number, text in enumerate(texts):
        found = sorted((m.pattern, m.start, m.end, m.group) for m in _SCANNER.scan(text))
        expected = sorted(
            (i, m.start(), m.end(), m.lastgroup) for i, p in enumerate(patterns) for m in p.finditer(text)
        )
        assert found == expected, f"coded report {number}"
