"""Report text as people paste it: 100 KB, emoji, right-to-left scripts, control characters.

Each encoder (report SR, ORU^R01, FHIR bundle) either carries the text whole, read back by an
independent parser, or refuses it naming the field; never a crash, never a silent cut.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import hl7
import pydicom
import pytest
from fhir.resources.R4B.bundle import Bundle
from pydicom.dataset import Dataset

from januscxr.errors import ReportInputError
from januscxr.interop import report_sr
from januscxr.interop.fhir_report import report_bundle
from januscxr.interop.hl7_oru import MessageRouting, oru_r01
from januscxr.interop.order import OutgoingReport
from januscxr.types import FloatArray
from tests.interop.conftest import dciodvfy
from tests.interop.outgoing import ALGORITHM, ORDER, PATIENT, RESULTS, SIGNER

TEXTS = {
    "100 KB": ("Small left effusion, unchanged; lines and tubes in place. " * 1800)[:100_000],
    "100 KB, one line": "x" * 100_000,
    "emoji": "Pneumothorax 🫁 resolved 👍🏽; flag 🇬🇧; ZWJ 👩‍⚕️.",
    "right to left": "ריאות תקינות. الرئتان سليمتان. \u200fRLM \u202bembedded\u202c 12 mm.",
}
CONTROL = ["bell\x07", "nul\x00", "escape \x1b[31m", "delete\x7f", "next line\x85", "half \ud83d"]


def sr_text(document: Dataset) -> str:
    (findings,) = [item for item in document.ContentSequence if item.ValueType == "CONTAINER"][:1]
    return "\n".join(child.TextValue for child in findings.ContentSequence if child.ValueType == "TEXT")


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_long_and_unusual_text_arrives_whole_in_every_encoding(
    text: str, source: tuple[Dataset, FloatArray], tmp_path: Path
) -> None:
    report = OutgoingReport.signed(text, "Impression.", SIGNER)
    er7 = oru_r01(report, PATIENT, ORDER, MessageRouting(), control_id="CTL-1")
    message = hl7.parse(er7)
    received = "\n".join(message.unescape(str(r)) for r in message.segments("OBX")[0][5])
    assert "".join(received.split()) == "".join(text.split())  # long lines wrap: no character lost
    wire = report_bundle(report, PATIENT, ORDER, identifier_system="urn:x", results=RESULTS, algorithm=ALGORITHM)
    bundle = json.loads(Bundle.model_validate_json(wire.model_dump_json()).model_dump_json())
    (diagnostic,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]
    assert text in base64.b64decode(diagnostic["presentedForm"][0]["data"]).decode("utf-8")
    header, _ = source
    dciodvfy(report_sr(header, findings=text, impression="Impression.", signature=SIGNER), tmp_path / "r.dcm")
    assert sr_text(pydicom.dcmread(tmp_path / "r.dcm")) == text


@pytest.mark.parametrize("text", CONTROL)
def test_control_characters_are_refused_naming_the_field(text: str, source: tuple[Dataset, FloatArray]) -> None:
    report = OutgoingReport.signed(f"Findings {text}.", "Impression.", SIGNER)
    with pytest.raises(ReportInputError, match=r"^report findings: ") as raised:
        oru_r01(report, PATIENT, ORDER, MessageRouting(), control_id="CTL-1")
    assert "\n" not in str(raised.value)
    with pytest.raises(ReportInputError, match=r"^report findings: "):
        report_bundle(report, PATIENT, ORDER, identifier_system="urn:x", results=RESULTS, algorithm=ALGORITHM)
    with pytest.raises(ReportInputError, match=r"^report findings: "):
        report_sr(source[0], findings=f"Findings {text}.", impression="Impression.", signature=SIGNER)
