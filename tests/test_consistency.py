"""The consistency guard: discordances between the draft and the classifier's flags."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

import januscxr
from januscxr.consistency import find_discordances
from januscxr.labels import Finding
from januscxr.records import output_record, read_output_schema, result_record
from januscxr.types import DiscordanceKind, DraftReport, FindingResult


def _flags(**probabilities: float) -> dict[Finding, FindingResult]:
    return {Finding.coerce(n): FindingResult(Finding.coerce(n), p, 0.3) for n, p in probabilities.items()}


def test_report_denying_a_flagged_pneumothorax_is_a_discordance():
    found = find_discordances("FINDINGS: No pneumothorax. IMPRESSION: Normal chest.", _flags(pneumothorax=0.92))
    assert [(d.finding, d.kind) for d in found] == [(Finding.PNEUMOTHORAX, DiscordanceKind.REPORT_DENIES)]
    assert found[0].critical and found[0].sentence == "No pneumothorax."


def test_report_asserting_a_finding_the_classifier_scores_low():
    found = find_discordances("Large right pleural effusion.", _flags(pleural_effusion=0.05, cardiomegaly=0.1))
    assert [(d.finding, d.kind) for d in found] == [(Finding.PLEURAL_EFFUSION, DiscordanceKind.REPORT_ASSERTS)]
    assert found[0].probability == 0.05


def test_silence_on_a_flagged_finding_and_order_of_kinds():
    report = DraftReport(findings="Mild cardiomegaly. No pleural effusion.", impression="Cardiomegaly.", reporter="x")
    found = find_discordances(report, _flags(pneumonia=0.8, pleural_effusion=0.9, cardiomegaly=0.1))
    assert [(d.finding, d.kind) for d in found] == [
        (Finding.PLEURAL_EFFUSION, DiscordanceKind.REPORT_DENIES),
        (Finding.PNEUMONIA, DiscordanceKind.REPORT_OMITS),
        (Finding.CARDIOMEGALY, DiscordanceKind.REPORT_ASSERTS),
    ]


def test_agreement_and_unassessed_findings_give_nothing():
    assert find_discordances("Right pneumothorax. No effusion.", _flags(pneumothorax=0.9, pleural_effusion=0.1)) == ()
    assert find_discordances("Fracture of the left sixth rib.", _flags(pneumothorax=0.1, pleural_effusion=0.1)) == ()


def test_uncertain_mentions_count_as_agreement_with_a_flag():
    assert find_discordances("Possible small left pleural effusion.", _flags(pleural_effusion=0.4)) == ()


def test_the_composer_agrees_with_the_classifier_and_results_carry_the_field(write_cr):
    result = januscxr.read(write_cr(), classifier="fake-classifier")
    assert result.discordances == ()
    record = result_record(result)
    assert record["discordances"] == []
    Draft202012Validator(read_output_schema()).validate(output_record([record], []))


def test_discordances_reach_the_json_records(write_cr):
    class DenyingReporter:
        name = "denier"

        def draft(self, image, findings):
            return DraftReport(findings="No pneumothorax.", impression="Normal.", reporter=self.name)

    result = januscxr.read(write_cr(), classifier="fake-classifier", reporter=DenyingReporter())
    kinds = {(d.finding.value, d.kind.value) for d in result.discordances}
    assert ("Pneumothorax", "report_denies") in kinds and ("Pleural Effusion", "report_omits") in kinds
    document = json.loads(json.dumps(output_record([result_record(result)], [])))
    Draft202012Validator(read_output_schema()).validate(document)
    first = document["results"][0]["discordances"][0]
    assert first == {
        "finding": "Pneumothorax",
        "kind": "report_denies",
        "probability": 0.92,
        "threshold": 0.3,
        "critical": True,
        "sentence": "No pneumothorax.",
    }
    skipped = januscxr.read(
        write_cr(), classifier="fake-classifier", reporter=DenyingReporter(), check_consistency=False
    )
    assert skipped.discordances == ()
