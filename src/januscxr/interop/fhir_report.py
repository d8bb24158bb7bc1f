"""Reports as FHIR R4 DiagnosticReport with an Observation per AI finding, in one transaction Bundle.

Built and validated with fhir.resources' R4B models (``fhir.resources.R4B``: fhir.resources 8
ships R5, R4B and STU3, not R4; DiagnosticReport, Observation and Bundle are the same in R4 and
R4B). Each entry is a conditional update, ``PUT DiagnosticReport?identifier=system|value``, so
the server creates the resource the first time and updates it after (the draft, the signed
report and each amendment are one DiagnosticReport), and the transaction stores the report and
its observations together or not at all. Entries reference each other by ``urn:uuid`` full URLs,
which the server rewrites to the ids it assigns.

    DiagnosticReport  identifier (system + accession number, type ACSN), basedOn (placer order),
                      status preliminary | final | amended, category RAD, code LOINC 18748-4,
                      subject (Patient by identifier), effective (study), issued, resultsInterpreter,
                      result (the Observations), imagingStudy (by Study Instance UID), conclusion
                      (impression), presentedForm (the whole text, text/plain UTF-8)
    Observation       one per AI finding: code from FINDING_CODES, valueQuantity probability,
                      interpretation present / possible / absent, component threshold,
                      method and device the model, derivedFrom the ImagingStudy
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from januscxr.errors import MessageEncodingError
from januscxr.interop.ai_sr import PROBABILITY, THRESHOLD, Algorithm, Presence
from januscxr.interop.order import ImagingOrder, OutgoingReport, Patient, ResultStatus, aware
from januscxr.labels import LOCAL_CODING_SCHEME, FindingCode
from januscxr.types import FindingResult

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
LOCAL_CODE_SYSTEM = "urn:januscxr:codes"  # januscxr's 99JANUSCXR concepts (labels.LOCAL_CODING_SCHEME)
MODEL_SYSTEM = "urn:januscxr:model"
DICOM_UID_SYSTEM = "urn:dicom:uid"  # FHIR's system for DICOM UIDs, values "urn:oid:<uid>"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"  # identifier types
CODE_SYSTEMS = {"SCT": SNOMED, "LN": LOINC, "DCM": DICOM, LOCAL_CODING_SCHEME: LOCAL_CODE_SYSTEM}

DIAGNOSTIC_IMAGING_REPORT = {"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}
RADIOLOGY = {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}
IMAGING = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}
AI_NOTE = "AI classifier result for decision support, not a diagnosis; see the signed report."

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # FHIR strings: TAB, LF, CR allowed


def report_bundle(
    report: OutgoingReport,
    patient: Patient,
    order: ImagingOrder,
    *,
    identifier_system: str,
    results: Sequence[FindingResult] = (),
    algorithm: Algorithm | None = None,
    patient_system: str | None = None,
    issued: datetime | None = None,
) -> Bundle:
    """A transaction Bundle that creates or updates the DiagnosticReport of ``order`` and its AI Observations.

    Parameters
    ----------
    report
        The signed report (final), amended by addenda (amended), or the AI draft (preliminary).
    patient, order
        The patient (referenced by identifier) and the order (accession number, study UID).
    identifier_system
        The URI under which the accession number identifies the report (and, suffixed with the
        finding, each Observation): the key of the conditional updates.
    results, algorithm
        The classifier's results, one Observation each, and the model that produced them.
    patient_system
        The URI of the patient id's namespace (PID-3's assigning authority as a URI), if known.
    issued
        When this version was made (default: the latest signature; now for a draft).

    Raises
    ------
    MessageEncodingError
        A value is missing or cannot be encoded, or a resource fails validation; the message names the field.
    """
    if results and algorithm is None:
        raise MessageEncodingError("AI results: no algorithm; expected the model that produced them")
    accession = _string(order.accession_number, field="accession number", required=True)
    issued = report.reported_at(issued or datetime.now(UTC))
    context = _Context(report, patient, order, identifier_system, patient_system, issued)
    observations = [_observation(context, r, algorithm) for r in results if algorithm is not None]
    diagnostic = _diagnostic_report(context, [o["fullUrl"] for o in observations])
    entries = [*observations, _entry("DiagnosticReport", _identifier(identifier_system, accession), diagnostic)]
    return _validated(Bundle, {"resourceType": "Bundle", "type": "transaction", "entry": entries}, field="bundle")


def conditional_url(resource_type: str, system: str, value: str) -> str:
    """``Type?identifier=system|value``, percent-encoded: the request URL of a conditional update."""
    return f"{resource_type}?identifier={quote(f'{system}|{value}', safe=':/|')}"


class _Context:
    """What every resource of one bundle shares."""

    def __init__(
        self,
        report: OutgoingReport,
        patient: Patient,
        order: ImagingOrder,
        identifier_system: str,
        patient_system: str | None,
        issued: datetime,
    ) -> None:
        self.report, self.order, self.issued = report, order, issued
        self.identifier_system = _uri(identifier_system, field="report identifier system")
        self.accession = order.accession_number
        patient_id: dict[str, str] = {"value": _string(patient.patient_id, field="patient id", required=True)}
        if patient_system:
            patient_id["system"] = _uri(patient_system, field="patient id system")
        self.subject: dict[str, Any] = {"type": "Patient", "identifier": patient_id}
        if patient.name.strip():
            self.subject["display"] = display_name(patient.name, field="patient name")
        uid = _string(order.study_instance_uid, field="study instance uid", required=True)
        self.imaging_study = {
            "type": "ImagingStudy",
            "identifier": {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{uid}"},
        }
        self.effective = None if order.study_datetime is None else aware(order.study_datetime).isoformat()


def _diagnostic_report(context: _Context, result_urls: list[str]) -> dict[str, Any]:
    report, order = context.report, context.order
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": V2_0203, "code": "ACSN", "display": "Accession ID"}]},
                **_identifier(context.identifier_system, context.accession),
            }
        ],
        "status": report.status.value,
        "category": [{"coding": [RADIOLOGY]}],
        "code": {"coding": [DIAGNOSTIC_IMAGING_REPORT, _coding(order.procedure)]},
        "subject": context.subject,
        "issued": context.issued.isoformat(),
        "result": [{"reference": url} for url in result_urls],
        "imagingStudy": [context.imaging_study],
        "conclusion": _string(report.impression, field="report impression"),
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "language": "en-US",
                "data": base64.b64encode(report_text(report).encode("utf-8")).decode("ascii"),
                "title": f"Report ({report.status.value})",
                "creation": context.issued.isoformat(),
            }
        ],
    }
    if order.placer_order_number:
        placer = _string(order.placer_order_number, field="placer order number")
        resource["basedOn"] = [
            {
                "type": "ServiceRequest",
                "identifier": {"type": {"coding": [{"system": V2_0203, "code": "PLAC"}]}, "value": placer},
            }
        ]
    if context.effective is not None:
        resource["effectiveDateTime"] = context.effective
    interpreters = [display_name(s.name, field="signer name") for s in report.signatures]
    if interpreters:
        resource["resultsInterpreter"] = [{"display": name} for name in dict.fromkeys(interpreters)]
    if not resource["conclusion"].strip():
        del resource["conclusion"]
    return resource


def _observation(context: _Context, result: FindingResult, algorithm: Algorithm) -> dict[str, Any]:
    presence = Presence.of(result)
    model = _string(algorithm.model_id, field="algorithm name (model id)", required=True)
    method = f"{model} {_string(algorithm.version, field='algorithm version')}".strip()
    if algorithm.parameters:
        method += f" ({', '.join(algorithm.parameters)})"
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [_identifier(context.identifier_system, _observation_key(context.accession, result))],
        # the AI's own result does not change when the report is amended: final once the report is signed
        "status": "preliminary" if context.report.status is ResultStatus.PRELIMINARY else "final",
        "category": [{"coding": [IMAGING]}],
        "code": {"coding": [_coding(result.finding.code)], "text": result.finding.value},
        "subject": context.subject,
        "issued": context.issued.isoformat(),
        "valueQuantity": _probability(result.probability),
        "interpretation": [{"coding": [_coding(presence.code)], "text": presence.value}],
        "note": [{"text": AI_NOTE}],
        "method": {"text": method},
        "device": {"identifier": {"system": MODEL_SYSTEM, "value": model}, "display": model},
        "derivedFrom": [context.imaging_study],
        "component": [
            {
                "code": {"coding": [{"system": DICOM, "code": THRESHOLD.value, "display": THRESHOLD.meaning}]},
                "valueQuantity": _probability(result.threshold),
            }
        ],
    }
    if context.effective is not None:
        resource["effectiveDateTime"] = context.effective
    return _entry("Observation", resource["identifier"][0], resource)


def report_text(report: OutgoingReport) -> str:
    """The report as one plain text: FINDINGS, IMPRESSION, then each addendum with its author and time."""
    parts = [
        f"FINDINGS:\n{_string(report.findings, field='report findings')}",
        f"IMPRESSION:\n{_string(report.impression, field='report impression')}",
    ]
    for number, addendum in enumerate(report.addenda, start=1):
        author = display_name(addendum.signature.name, field=f"addendum {number} author")
        when = aware(addendum.signature.signed_at).isoformat(timespec="minutes")
        parts.append(f"ADDENDUM ({author}, {when}):\n{_string(addendum.text, field=f'addendum {number} text')}")
    return "\n\n".join(parts)


def display_name(name: str, *, field: str) -> str:
    """A person's name as people read it: DICOM PN ``Family^Given`` becomes ``Given Family``."""
    alphabetic = _string(name, field=field).split("=", 1)[0]
    if "^" not in alphabetic:
        return alphabetic.strip()
    family, given, middle, prefix, suffix = [*alphabetic.split("^"), "", "", "", ""][:5]
    return " ".join(p.strip() for p in (prefix, given, middle, family, suffix) if p.strip())


def _entry(resource_type: str, identifier: dict[str, str], resource: dict[str, Any]) -> dict[str, Any]:
    key = f"{resource_type}/{identifier['system']}|{identifier['value']}"
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}",  # the same for every version of the report
        "resource": resource,
        "request": {"method": "PUT", "url": conditional_url(resource_type, identifier["system"], identifier["value"])},
    }


def _observation_key(accession: str, result: FindingResult) -> str:
    return f"{accession}/{result.finding.name.lower()}"


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def _coding(code: FindingCode) -> dict[str, str]:
    return {"system": CODE_SYSTEMS.get(code.scheme, code.scheme), "code": code.value, "display": code.meaning}


def _probability(value: float) -> dict[str, Any]:
    return {"value": round(float(value), 6), "unit": PROBABILITY.meaning.lower(), "system": UCUM, "code": "1"}


def _string(value: str, *, field: str, required: bool = False) -> str:
    if required and not value.strip():
        raise MessageEncodingError(f"{field}: empty; expected a value")
    if match := _CONTROL.search(value):
        raise MessageEncodingError(
            f"{field}: character U+{ord(match.group()):04X} at position {match.start()}; "
            "expected text with TAB, LF and CR as the only control characters"
        )
    return value


def _uri(value: str, *, field: str) -> str:
    if not _URI.fullmatch(_string(value, field=field, required=True)):
        raise MessageEncodingError(f"{field}: {value!r}; expected an absolute URI (https://... or urn:...)")
    return value


def _validated(model: type[Bundle], data: dict[str, Any], *, field: str) -> Bundle:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MessageEncodingError(
            f"{field} {where}: {first['msg']}; expected a valid FHIR R4 {data['resourceType']}"
        ) from error
