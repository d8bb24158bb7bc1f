"""FHIR DiagnosticReport and Observations, built and re-validated with fhir.resources (R4B models)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

from januscxr.errors import MessageEncodingError
from januscxr.interop.fhir_report import conditional_url, display_name, report_bundle
from januscxr.interop.order import OutgoingReport
from januscxr.labels import Finding
from januscxr.types import FindingResult
from tests.interop.outgoing import (
    ALGORITHM,
    FINDINGS,
    IMPRESSION,
    ORDER,
    PATIENT,
    RESULTS,
    SIGNER,
    amended,
    draft,
    signed,
)

SYSTEM = "https://hospital.example/fhir/januscxr-report"


def build(report: OutgoingReport, **changes: Any) -> dict[str, Any]:
    """The bundle as JSON, parsed again into fhir.resources models to prove it validates from the wire."""
    order = changes.pop("order", ORDER)
    inputs: dict[str, Any] = {"identifier_system": SYSTEM, "results": RESULTS, "algorithm": ALGORITHM} | changes
    wire = report_bundle(report, PATIENT, order, **inputs).model_dump_json()
    Bundle.model_validate_json(wire)
    return json.loads(wire)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_signed_report_is_a_final_diagnostic_report() -> None:
    bundle = build(signed())
    assert bundle["type"] == "transaction"
    (report,) = resources(bundle, "DiagnosticReport")
    DiagnosticReport.model_validate(report)
    assert report["status"] == "final"
    assert report["identifier"][0]["system"] == SYSTEM and report["identifier"][0]["value"] == "ACC-2026-001"
    assert report["identifier"][0]["type"]["coding"][0]["code"] == "ACSN"
    assert report["code"]["coding"][0]["code"] == "18748-4"
    assert (
        report["subject"]["identifier"] == {"value": "PAT-0042"}
        and report["subject"]["display"] == "Dr. Zoë Ann Müller"
    )
    assert report["imagingStudy"] == [
        {
            "type": "ImagingStudy",
            "identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.826.0.1.3680043.8.498.1"},
        }
    ]
    assert report["basedOn"][0]["identifier"]["value"] == "PLC-77"
    assert report["conclusion"] == IMPRESSION
    assert report["resultsInterpreter"] == [{"display": "Åse Ødegård"}]
    assert report["effectiveDateTime"].startswith("2026-11-29T08:30:00")
    assert report["issued"].startswith("2026-11-29T10:15:00")
    text = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert text == f"FINDINGS:\n{FINDINGS}\n\nIMPRESSION:\n{IMPRESSION}"
    assert report["presentedForm"][0]["contentType"] == "text/plain; charset=utf-8"


def test_one_observation_per_ai_finding_referenced_by_the_report() -> None:
    bundle = build(signed())
    observations = resources(bundle, "Observation")
    (report,) = resources(bundle, "DiagnosticReport")
    full_urls = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert {r["reference"] for r in report["result"]} == full_urls and len(full_urls) == 3
    by_code = {o["code"]["coding"][0]["code"]: o for o in observations}
    pneumothorax, effusion, lesion = by_code["36118008"], by_code["60046008"], by_code["LUNG-LESION"]
    for observation in observations:
        Observation.model_validate(observation)
        assert observation["status"] == "final"
        assert observation["device"]["display"] == "densenet121-res224-all"
        assert "densenet121-res224-all 1.0" in observation["method"]["text"]
        assert observation["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert pneumothorax["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert lesion["code"]["coding"][0]["system"] == "urn:januscxr:codes"
    assert pneumothorax["valueQuantity"]["value"] == pytest.approx(0.91)
    assert pneumothorax["component"][0]["valueQuantity"]["value"] == pytest.approx(0.3)
    assert [o["interpretation"][0]["text"] for o in (pneumothorax, effusion, lesion)] == [
        "present",
        "possible",
        "absent",
    ]
    assert pneumothorax["identifier"][0] == {"system": SYSTEM, "value": "ACC-2026-001/pneumothorax"}


def test_entries_are_conditional_updates_by_identifier() -> None:
    bundle = build(signed())
    urls = [e["request"]["url"] for e in bundle["entry"]]
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    assert urls[-1] == f"DiagnosticReport?identifier={SYSTEM}|ACC-2026-001"
    assert urls[0] == f"Observation?identifier={SYSTEM}|ACC-2026-001/pneumothorax"
    assert conditional_url("DiagnosticReport", SYSTEM, "A&B 1") == f"DiagnosticReport?identifier={SYSTEM}|A%26B%201"
    assert [e["fullUrl"] for e in build(amended())["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_addendum_amends_the_report() -> None:
    (report,) = resources(build(amended()), "DiagnosticReport")
    assert report["status"] == "amended"
    assert report["resultsInterpreter"] == [{"display": "Åse Ødegård"}, {"display": "Jean-Luc Picard"}]
    text = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert text.endswith(
        "ADDENDUM (Jean-Luc Picard, 2026-11-29T12:00+00:00):\nCorrection: the pneumothorax is LEFT | not right."
    )


def test_ai_draft_is_preliminary() -> None:
    bundle = build(draft(), issued=datetime(2026, 11, 29, 9))
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["status"] == "preliminary" and "resultsInterpreter" not in report
    assert report["issued"].startswith("2026-11-29T09:00:00")
    assert {o["status"] for o in resources(bundle, "Observation")} == {"preliminary"}


def test_without_ai_results_only_the_report() -> None:
    bundle = build(signed(), results=(), algorithm=None, patient_system="urn:oid:1.2.3.4")
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DiagnosticReport"]
    assert bundle["entry"][0]["resource"]["subject"]["identifier"]["system"] == "urn:oid:1.2.3.4"


def test_display_names() -> None:
    assert display_name("Smith^Jane", field="x") == "Jane Smith"
    assert display_name("Jane Smith", field="x") == "Jane Smith"
    assert display_name("Yamada^Tarou=山田^太郎", field="x") == "Tarou Yamada"


@pytest.mark.parametrize(
    ("report", "changes", "field"),
    [
        (OutgoingReport.signed("nul\x00", IMPRESSION, SIGNER), {}, "report findings"),
        (OutgoingReport.signed(FINDINGS, "esc\x1b", SIGNER), {}, "report impression"),
        (None, {"order": dataclasses.replace(ORDER, accession_number=" ")}, "accession number"),
        (None, {"order": dataclasses.replace(ORDER, study_instance_uid="")}, "study instance uid"),
        (None, {"identifier_system": ""}, "report identifier system"),
        (None, {"algorithm": None}, "AI results: no algorithm"),
        (
            None,
            {"results": [FindingResult(Finding.EDEMA, float("nan"), 0.3)]},
            r"bundle entry\.0\.resource\.valueQuantity",
        ),
        (None, {"identifier_system": "not a uri"}, "report identifier system: 'not a uri'"),
    ],
)
def test_values_that_cannot_be_encoded_name_the_field(
    report: OutgoingReport | None, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(MessageEncodingError, match=field):
        build(report or signed(), **changes)
