"""Clinical efficacy: hand-counted micro, macro and example-based precision, recall and F1."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from januscxr.errors import EvaluationInputError
from januscxr.eval.clinical import (
    CHEXPERT_5,
    LabelState,
    clinical_efficacy,
    label_reports,
)
from januscxr.labels import Finding

CARDIO, EFFUSION, EDEMA = Finding.CARDIOMEGALY, Finding.PLEURAL_EFFUSION, Finding.EDEMA
THREE = (CARDIO, EFFUSION, EDEMA)

# Three reports over three findings (missing keys are "not_mentioned"):
#            predicted                          reference
# a   cardio+, effusion+                    cardio+, effusion-
# b   edema uncertain                       edema+, effusion+
# c   (nothing)                             cardio uncertain
PREDICTED = {
    "a": {CARDIO: "positive", EFFUSION: "positive"},
    "b": {EDEMA: "uncertain"},
    "c": {},
}
REFERENCE = {
    "a": {CARDIO: "positive", EFFUSION: "negative"},
    "b": {"Edema": "positive", "pleural_effusion": "POSITIVE"},
    "c": {CARDIO: "uncertain"},
}


def test_uncertain_as_negative_by_hand() -> None:
    # Positives: pred a{C, E}; truth a{C}, b{Ed, E}.
    # TP: a.C = 1; FP: a.E = 1; FN: b.Ed, b.E = 2.
    ce = clinical_efficacy(PREDICTED, REFERENCE, findings=THREE, uncertain="negative")
    assert (ce.micro.precision, ce.micro.recall, ce.micro.f1) == pytest.approx((1 / 2, 1 / 3, 2 / 5))
    # Per finding: C: TP1 -> P1 R1 F1; E: FP1 FN1 -> 0 0 0; Ed: FN1 -> P 0 (0/0), R 0, F 0.
    assert ce.macro.precision == pytest.approx(1 / 3)
    assert ce.macro.recall == pytest.approx(1 / 3)
    assert ce.macro.f1 == pytest.approx(1 / 3)
    # Per report: a: TP1 FP1 -> P 1/2, R 1, F 2/3; b: FN2 -> 0 0 0; c: nothing on either side -> 0 0 0.
    assert (ce.example.precision, ce.example.recall, ce.example.f1) == pytest.approx((1 / 6, 1 / 3, 2 / 9))
    by_finding = {a.finding: a for a in ce.per_finding}
    assert (by_finding[EFFUSION].tp, by_finding[EFFUSION].fp, by_finding[EFFUSION].fn, by_finding[EFFUSION].tn) == (
        0,
        1,
        1,
        1,
    )
    assert by_finding[EDEMA].support == 1


def test_uncertain_as_positive_by_hand() -> None:
    # Now pred b{Ed} and truth c{C} are positive too.
    # TP: a.C, b.Ed = 2; FP: a.E = 1; FN: b.E, c.C = 2.
    ce = clinical_efficacy(PREDICTED, REFERENCE, findings=THREE, uncertain="positive")
    assert (ce.micro.precision, ce.micro.recall, ce.micro.f1) == pytest.approx((2 / 3, 2 / 4, 4 / 7))
    # Per report: a as before (1/2, 1, 2/3); b: TP1 FN1 -> 1, 1/2, 2/3; c: FN1 -> 0, 0, 0.
    assert (ce.example.precision, ce.example.recall, ce.example.f1) == pytest.approx((1 / 2, 1 / 2, 4 / 9))


def test_zero_division_value_is_an_option() -> None:
    ce = clinical_efficacy({"c": {}}, {"c": {}}, findings=THREE, zero_division=1.0)
    assert (ce.micro.f1, ce.macro.f1, ce.example.f1) == (1.0, 1.0, 1.0)


def test_perfect_agreement_over_the_five_common_findings() -> None:
    labels = {"x": {f: "positive" for f in CHEXPERT_5}, "y": {Finding.EDEMA: "negative"}}
    ce = clinical_efficacy(labels, labels, findings=CHEXPERT_5)
    assert ce.micro.f1 == 1.0
    assert ce.example.f1 == pytest.approx(0.5)  # report y has no positives on either side: 0 by default
    assert [a.finding for a in ce.per_finding] == list(CHEXPERT_5)


def test_default_is_the_fourteen_chexpert_findings() -> None:
    ce = clinical_efficacy({"x": {}}, {"x": {}})
    assert len(ce.findings) == 14


@pytest.mark.parametrize("value", ["absent", "not mentioned", "Not_Mentioned", LabelState.NOT_MENTIONED])
def test_not_mentioned_spellings(value: object) -> None:
    assert LabelState.coerce(value) is LabelState.NOT_MENTIONED


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"Cardiomegaly": "maybe"}, "'maybe'"),
        ({"Bronchiectasis": "positive"}, "'Bronchiectasis'"),
        ({"Edema": ""}, "report 'x'"),
    ],
)
def test_bad_labels_raise_naming_the_report(labels: dict[str, str], message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        clinical_efficacy({"x": labels}, {"x": {}})


def test_ids_that_differ_raise() -> None:
    with pytest.raises(EvaluationInputError, match="ids differ"):
        clinical_efficacy({"a": {}, "b": {}}, {"a": {}})


def test_bad_uncertain_policy_raises() -> None:
    with pytest.raises(EvaluationInputError, match="uncertain policy is 'ignore'"):
        clinical_efficacy({"a": {}}, {"a": {}}, uncertain="ignore")


def test_label_objects_with_a_mention_are_accepted() -> None:
    @dataclass(frozen=True)
    class Label:
        mention: LabelState

    ce = clinical_efficacy(
        {"x": {Finding.EDEMA: Label(LabelState.POSITIVE)}}, {"x": {"Edema": "positive"}}, findings=THREE
    )
    assert ce.micro.f1 == 1.0


def test_the_real_labeler_feeds_clinical_efficacy() -> None:
    labels = label_reports({"a": "Small left pleural effusion. No pneumothorax.", "b": "Normal chest."})
    assert set(labels) == {"a", "b"}
    assert all(isinstance(state, str) for report in labels.values() for state in report.values())
    ce = clinical_efficacy(labels, labels, findings=CHEXPERT_5, zero_division=1.0)
    assert ce.micro.f1 == ce.macro.f1 == ce.example.f1 == 1.0  # the same reports on both sides agree
