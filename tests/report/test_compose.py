"""Report composition: normal studies, ordering, laterality, 'possible', honest negatives."""

from __future__ import annotations

import numpy as np

from januscxr.labeler import Mention, label_report
from januscxr.labels import Finding
from januscxr.report import FindingsComposer, compose_report
from januscxr.report.compose import Certainty, certainty
from januscxr.types import FindingResult, Image, Laterality


def _results(**probabilities: float) -> dict[Finding, FindingResult]:
    return {Finding.coerce(name): FindingResult(Finding.coerce(name), p, 0.3) for name, p in probabilities.items()}


def test_normal_study_reads_as_a_normal_report():
    report = compose_report(_results(pneumonia=0.05, pleural_effusion=0.1, cardiomegaly=0.02, atelectasis=0.1))
    assert report.impression == "No acute abnormality among the findings assessed."
    assert "No pneumonia or atelectasis." in report.findings
    assert "No pleural effusion." in report.findings
    assert "The heart size is normal." in report.findings  # the mediastinum is not assessed
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
    labels = label_report(report.text)
    assert [f for f in labels if labels.mention(f) is Mention.NEGATIVE] == [Finding.PNEUMONIA]
    assert "heart" not in report.text.lower() and "silhouette" not in report.findings.lower()


def test_composer_is_a_reporter():
    image = Image(pixels=np.zeros((64, 64), np.float32), source="x")
    draft = FindingsComposer().draft(image, _results(pneumonia=0.9))
    assert draft.reporter == "findings-composer"
    assert draft.text.startswith("FINDINGS:\n") and "\n\nIMPRESSION:\n1. " in draft.text


def _bundled(**probabilities: float) -> dict[Finding, FindingResult]:
    """Four labels the bundled classifier offered before cross-validation withheld Lung Opacity; unflagged unless given."""
    scores = {"pneumonia": 0.1, "pleural_effusion": 0.1, "cardiomegaly": 0.1, "lung_opacity": 0.1} | probabilities
    return _results(**scores)


NOT_ASSESSED_BY_THE_BUNDLED_MODEL = (
    "The AI is not designed for detection of pneumothorax, consolidation, edema, nodule, mass, fracture, "
    "atelectasis, mediastinal widening, pleural thickening or support devices."
)


def test_certainty_bands():
    assert [certainty(FindingResult(Finding.EDEMA, p, 0.3)) for p in (0.29, 0.3, 0.49, 0.5)] == [
        Certainty.ABSENT,
        Certainty.POSSIBLE,
        Certainty.POSSIBLE,
        Certainty.PRESENT,
    ]


def test_possible_opacity_is_not_denied_as_airspace_disease():
    report = compose_report(_bundled(lung_opacity=0.42))
    assert report.findings == (
        "Possible airspace opacity. No pleural effusion. The heart size is normal. " + NOT_ASSESSED_BY_THE_BUNDLED_MODEL
    )
    assert report.impression == "1. Possible airspace opacity."


def test_pneumonia_and_its_opacity_share_one_sentence_on_their_side():
    results = _bundled(pneumonia=0.81, lung_opacity=0.44)
    for finding in (Finding.PNEUMONIA, Finding.LUNG_OPACITY):
        results[finding] = FindingResult(finding, results[finding].probability, 0.3, laterality=Laterality.LEFT)
    report = compose_report(results)
    assert report.findings.startswith("There is left airspace opacity in keeping with pneumonia. No pleural effusion.")
    assert report.impression == "1. Left airspace opacity, likely pneumonia."


def test_normal_study_with_unassessed_findings_claims_only_what_was_assessed():
    report = compose_report(_bundled())
    assert report.findings == (
        "No airspace opacity or pneumonia. No pleural effusion. The heart size is normal. "
        + NOT_ASSESSED_BY_THE_BUNDLED_MODEL
    )
    assert report.impression == "No acute abnormality among the findings assessed."


def test_a_classifier_of_all_findings_has_no_not_assessed_note():
    report = compose_report(_results(**{f.name: 0.1 for f in Finding}))
    assert "not designed" not in report.text
    assert report.impression == "No acute cardiopulmonary abnormality."
    assert report.findings.endswith("The cardiomediastinal silhouette is within normal limits.")


def test_pneumonia_without_a_flagged_opacity_names_no_opacity():
    report = compose_report(_bundled(pneumonia=0.9))
    assert report.findings.startswith("Findings in keeping with pneumonia. No pleural effusion.")
    assert "opacity" not in report.text and "airspace" not in report.text


def test_group_side_only_where_its_findings_agree():
    results = _bundled(pneumonia=0.9, lung_opacity=0.9)
    results[Finding.PNEUMONIA] = FindingResult(Finding.PNEUMONIA, 0.9, 0.3, laterality=Laterality.LEFT)
    results[Finding.LUNG_OPACITY] = FindingResult(Finding.LUNG_OPACITY, 0.9, 0.3, laterality=Laterality.RIGHT)
    assert compose_report(results).impression == "1. Airspace opacity, likely pneumonia."
