"""Report composition: normal studies, ordering, laterality, 'possible', honest negatives."""

from __future__ import annotations

import numpy as np

from januscxr.labels import Finding
from januscxr.report import FindingsComposer, compose_report
from januscxr.types import FindingResult, Image, Laterality


def _results(**probabilities: float) -> dict[Finding, FindingResult]:
    return {Finding.coerce(name): FindingResult(Finding.coerce(name), p, 0.3) for name, p in probabilities.items()}


def test_normal_study_reads_as_a_normal_report():
    report = compose_report(_results(pneumonia=0.05, pleural_effusion=0.1, cardiomegaly=0.02, atelectasis=0.1))
    assert report.impression == "No acute cardiopulmonary abnormality."
    assert "No focal airspace disease or atelectasis." in report.findings
    assert "No pleural effusion." in report.findings
    assert "cardiomediastinal silhouette is within normal limits" in report.findings
    assert "Possible" not in report.text


def test_flagged_findings_most_critical_first_with_side():
    results = _results(cardiomegaly=0.9, pneumothorax=0.95, pleural_effusion=0.8)
    results[Finding.PNEUMOTHORAX] = FindingResult(Finding.PNEUMOTHORAX, 0.95, 0.3, laterality=Laterality.LEFT)
    report = compose_report(results)
    assert report.impression.splitlines() == ["1. Left pneumothorax.", "2. Pleural effusion.", "3. Cardiomegaly."]
    assert report.findings.index("left pneumothorax") < report.findings.index("pleural effusion")
    assert report.findings.index("pleural effusion") < report.findings.index("cardiac silhouette is enlarged")
    assert "No pneumothorax" not in report.findings and "No pleural effusion" not in report.findings


def test_uncertain_band_reads_as_possible():
    results = {Finding.PLEURAL_EFFUSION: FindingResult(Finding.PLEURAL_EFFUSION, 0.4, 0.3, laterality=Laterality.RIGHT)}
    report = compose_report(results)
    assert "Possible right pleural effusion." in report.findings
    assert report.impression == "1. Possible right pleural effusion."


def test_unassessed_findings_are_never_declared_absent():
    report = compose_report(_results(pneumonia=0.01))
    assert "pneumothorax" not in report.text.lower()
    assert "heart" not in report.text.lower() and "cardio" not in report.findings.lower()


def test_composer_is_a_reporter():
    image = Image(pixels=np.zeros((64, 64), np.float32), source="x")
    draft = FindingsComposer().draft(image, _results(pneumonia=0.9))
    assert draft.reporter == "findings-composer"
    assert draft.text.startswith("FINDINGS:\n") and "\n\nIMPRESSION:\n1. " in draft.text
