"""The labeler on short sentences written for these tests (none comes from a dataset)."""

from __future__ import annotations

import pytest

from januscxr.labeler import Mention, NoFindingRule, label_report, label_reports
from januscxr.labels import CHEXPERT_14, Finding

POS, NEG, UNC, NOT = Mention.POSITIVE, Mention.NEGATIVE, Mention.UNCERTAIN, Mention.NOT_MENTIONED


def mention(text: str, finding: Finding | str) -> Mention:
    return label_report(text).mention(finding)


@pytest.mark.parametrize(
    ("text", "finding", "expected"),
    [
        ("Small right pleural effusion.", Finding.PLEURAL_EFFUSION, POS),
        ("Moderate cardiomegaly.", Finding.CARDIOMEGALY, POS),
        ("The heart is mildly enlarged.", Finding.CARDIOMEGALY, POS),
        ("Large left pneumothorax with mediastinal shift.", Finding.PNEUMOTHORAX, POS),
        ("Bibasilar subsegmental atelectasis.", Finding.ATELECTASIS, POS),
        ("Collapse of the left lower lobe.", Finding.ATELECTASIS, POS),
        ("Interstitial pulmonary edema.", Finding.EDEMA, POS),
        ("Pulmonary vascular congestion.", Finding.EDEMA, POS),
        ("Right lower lobe pneumonia.", Finding.PNEUMONIA, POS),
        ("Dense consolidation in the lingula.", Finding.CONSOLIDATION, POS),
        ("A 9 mm nodule in the right upper lobe.", Finding.LUNG_LESION, POS),
        ("Spiculated mass in the left hilum.", Finding.LUNG_LESION, POS),
        ("Healed fractures of the left sixth and seventh ribs.", Finding.FRACTURE, POS),
        ("Patchy airspace opacity at the right base.", Finding.LUNG_OPACITY, POS),
        ("Left apical pleural thickening.", Finding.PLEURAL_OTHER, POS),
        ("Widened superior mediastinum.", Finding.ENLARGED_CARDIOMEDIASTINUM, POS),
        ("Left subclavian central venous catheter tip in the SVC.", Finding.SUPPORT_DEVICES, POS),
        ("Dual chamber pacemaker leads are in place.", Finding.SUPPORT_DEVICES, POS),
        ("Median sternotomy wires are intact.", Finding.SUPPORT_DEVICES, POS),
        ("Endotracheal tube 4 cm above the carina.", Finding.SUPPORT_DEVICES, POS),
    ],
)
def test_a_plain_mention_is_positive(text: str, finding: Finding, expected: Mention) -> None:
    assert mention(text, finding) is expected


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("No pneumothorax.", Finding.PNEUMOTHORAX),
        ("There is no evidence of pleural effusion.", Finding.PLEURAL_EFFUSION),
        ("Lungs are clear without consolidation.", Finding.CONSOLIDATION),
        ("The lungs are free of focal airspace disease.", Finding.LUNG_OPACITY),
        ("Negative for pneumonia.", Finding.PNEUMONIA),
        ("The left pleural effusion has resolved.", Finding.PLEURAL_EFFUSION),
        ("Interval resolution of right lower lobe atelectasis.", Finding.ATELECTASIS),
        ("Pneumothorax is not seen.", Finding.PNEUMOTHORAX),
        (
            "No focal consolidation, suspicious opacity, pneumothorax or large pleural effusion.",
            Finding.PLEURAL_EFFUSION,
        ),
        ("No suspicious pulmonary nodules.", Finding.LUNG_LESION),
        ("No findings suggestive of pneumonia.", Finding.PNEUMONIA),
        ("Heart size is normal.", Finding.CARDIOMEGALY),
        ("The cardiac silhouette is not enlarged.", Finding.CARDIOMEGALY),
        ("Normal pulmonary vascularity.", Finding.EDEMA),
        ("The chest tube has been removed.", Finding.SUPPORT_DEVICES),
        ("No acute displaced rib fracture.", Finding.FRACTURE),
    ],
)
def test_negation(text: str, finding: Finding) -> None:
    assert mention(text, finding) is NEG


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("Small left effusion cannot be excluded.", Finding.PLEURAL_EFFUSION),
        ("Cannot exclude a small pneumothorax.", Finding.PNEUMOTHORAX),
        ("Basilar opacity may represent atelectasis.", Finding.ATELECTASIS),
        ("Opacity could reflect early pneumonia.", Finding.PNEUMONIA),
        ("Right base atelectasis versus consolidation.", Finding.ATELECTASIS),
        ("Right base atelectasis versus consolidation.", Finding.CONSOLIDATION),
        ("Possible small left pleural effusion.", Finding.PLEURAL_EFFUSION),
        ("Questionable nondisplaced rib fracture.", Finding.FRACTURE),
        ("Borderline cardiomegaly.", Finding.CARDIOMEGALY),
        ("Findings are concerning for pneumonia.", Finding.PNEUMONIA),
        ("Pneumonia is in the differential.", Finding.PNEUMONIA),
        ("Airspace opacity consistent with infection.", Finding.PNEUMONIA),  # infection stops short of pneumonia
    ],
)
def test_uncertainty(text: str, finding: Finding) -> None:
    assert mention(text, finding) is UNC


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("Streaky opacity, likely atelectasis.", Finding.ATELECTASIS),
        ("Opacity most consistent with pneumonia.", Finding.PNEUMONIA),
        ("Findings suggestive of interstitial edema.", Finding.EDEMA),
        ("Probable right lower lobe pneumonia.", Finding.PNEUMONIA),
    ],
)
def test_the_upper_rungs_of_certainty_are_positive(text: str, finding: Finding) -> None:
    assert mention(text, finding) is POS


def test_a_hedge_in_another_clause_does_not_reach() -> None:
    labels = label_report("Small right effusion; the opacity may represent atelectasis.")
    assert labels.mention(Finding.PLEURAL_EFFUSION) is POS
    assert labels.mention(Finding.ATELECTASIS) is UNC


def test_negation_stops_at_a_terminator() -> None:
    labels = label_report("No pneumothorax, but there is a small left pleural effusion.")
    assert labels.mention(Finding.PNEUMOTHORAX) is NEG
    assert labels.mention(Finding.PLEURAL_EFFUSION) is POS


def test_a_pseudo_negation_does_not_negate() -> None:
    assert mention("No change in the small left pleural effusion.", Finding.PLEURAL_EFFUSION) is POS
    assert mention("Not significantly changed moderate cardiomegaly.", Finding.CARDIOMEGALY) is POS


def test_partial_resolution_is_still_present() -> None:
    assert mention("Nearly resolved right apical pneumothorax.", Finding.PNEUMOTHORAX) is POS


@pytest.mark.parametrize(
    "text",
    [
        "If there is concern for rib fracture, dedicated rib views are suggested.",
        "Rib fractures may not be demonstrated on this radiograph.",
        "Pneumonia seen on the prior CT is no longer present.",
    ],
)
def test_conditions_and_earlier_exams_are_not_mentions(text: str) -> None:
    labels = label_report(text)
    assert labels.mention(Finding.FRACTURE) in {NOT, NEG}
    assert labels.mention(Finding.PNEUMONIA) in {NOT, NEG}


def test_positive_wins_over_a_negative_elsewhere_in_the_report() -> None:
    labels = label_report("Small left pleural effusion. No large effusion on the right.")
    assert labels.mention(Finding.PLEURAL_EFFUSION) is POS
    assert labels[Finding.PLEURAL_EFFUSION].sentence == "Small left pleural effusion."


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("Small left pnuemothorax.", Finding.PNEUMOTHORAX),
        ("Tiny right pleural effusoin.", Finding.PLEURAL_EFFUSION),
        ("Bibasilar atelectsis.", Finding.ATELECTASIS),
        ("Mild cardiomegally.", Finding.CARDIOMEGALY),
        ("Left lower lobe pnemonia.", Finding.PNEUMONIA),
        ("Dense consolodation.", Finding.CONSOLIDATION),
        ("Old rib fracure.", Finding.FRACTURE),
        ("Bilateral pleural effusions.", Finding.PLEURAL_EFFUSION),
        ("Small bilateral pneumothoraces.", Finding.PNEUMOTHORAX),
    ],
)
def test_misspellings_and_plurals(text: str, finding: Finding) -> None:
    assert mention(text, finding) is POS


def test_deidentification_tokens_do_not_break_matching() -> None:
    labels = label_report("The heart size is XXXX enlarged. XXXX right pleural effusion. No XXXX pneumothorax.")
    assert labels.mention(Finding.CARDIOMEGALY) is POS
    assert labels.mention(Finding.PLEURAL_EFFUSION) is POS
    assert labels.mention(Finding.PNEUMOTHORAX) is NEG
    assert label_report("Negative chest x-XXXX.").mention(Finding.NO_FINDING) is POS


def test_look_alikes_are_not_mentions() -> None:
    assert mention("Small pericardial effusion.", Finding.PLEURAL_EFFUSION) is NOT
    assert mention("Lytic lesion in the humeral head.", Finding.LUNG_LESION) is NOT
    assert mention("Vertebral body collapse at T11.", Finding.ATELECTASIS) is NOT
    assert mention("The pacemaker lead is fractured.", Finding.FRACTURE) is NOT
    assert mention("Soft tissue edema of the chest wall.", Finding.EDEMA) is NOT
    assert mention("Calcified granuloma in the left upper lobe.", Finding.LUNG_LESION) is NOT


class TestNoFinding:
    def test_a_normal_report_is_no_finding_with_its_evidence(self) -> None:
        labels = label_report("Heart size is normal. The lungs are clear. No acute cardiopulmonary disease.")
        assert labels[Finding.NO_FINDING].mention is POS
        assert labels[Finding.NO_FINDING].sentence == "The lungs are clear."

    def test_any_finding_rules_it_out(self) -> None:
        labels = label_report("Mild cardiomegaly. Lungs are clear.")
        assert labels[Finding.NO_FINDING].mention is NEG
        assert labels[Finding.NO_FINDING].sentence == "Mild cardiomegaly."

    def test_an_uncertain_finding_rules_it_out(self) -> None:
        assert mention("Possible small left pleural effusion.", Finding.NO_FINDING) is NEG

    def test_support_devices_do_not_rule_it_out(self) -> None:
        labels = label_report("Right chest port in good position. The lungs are clear. No acute disease.")
        assert labels.mention(Finding.SUPPORT_DEVICES) is POS
        assert labels.mention(Finding.NO_FINDING) is POS

    def test_an_abnormality_outside_the_14_rules_it_out_unless_chexpert(self) -> None:
        text = "Large hiatal hernia. Lungs are clear. No acute disease."
        labels = label_report(text)
        assert labels.mention(Finding.NO_FINDING) is NEG
        assert labels.other_findings == ("Large hiatal hernia.",)
        assert label_report(text, no_finding=NoFindingRule.CHEXPERT).mention(Finding.NO_FINDING) is POS
        assert label_report(text, no_finding="chexpert").mention(Finding.NO_FINDING) is POS

    def test_negated_other_abnormalities_do_not_rule_it_out(self) -> None:
        assert mention("No scoliosis. No hiatal hernia. Lungs are clear.", Finding.NO_FINDING) is POS

    def test_an_empty_report_mentions_nothing(self) -> None:
        labels = label_report("   ")
        assert all(labels.mention(f) is NOT for f in CHEXPERT_14)


def test_the_labels_read_as_a_mapping_by_enum_or_name() -> None:
    labels = label_report("Mild cardiomegaly. No pleural effusion.")
    assert list(labels) == list(CHEXPERT_14)
    assert len(labels) == 14
    assert labels["Cardiomegaly"] is labels[Finding.CARDIOMEGALY]
    assert labels["pleural_effusion"].mention is NEG
    assert labels.positive == (Finding.CARDIOMEGALY,)
    codes = labels.codes()
    assert codes["Cardiomegaly"] == 1 and codes["Pleural Effusion"] == 0 and codes["Edema"] is None
    assert codes["No Finding"] == 0


def test_mention_codes_follow_chexpert() -> None:
    assert [m.code for m in (POS, NEG, UNC, NOT)] == [1, 0, -1, None]
    assert POS.is_present and UNC.is_present and not NEG.is_present and not NOT.is_present


def test_label_reports_keeps_order() -> None:
    texts = ["No pneumothorax.", "Small pneumothorax.", "Possible pneumothorax."]
    assert [r.mention(Finding.PNEUMOTHORAX) for r in label_reports(texts)] == [NEG, POS, UNC]


def test_a_mixed_case_report() -> None:
    assert mention("SMALL LEFT PLEURAL EFFUSION.", Finding.PLEURAL_EFFUSION) is POS
