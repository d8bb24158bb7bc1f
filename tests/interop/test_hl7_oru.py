"""ORU^R01 built with hl7apy, read back with python-hl7 (an independent parser)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import hl7
import pytest

from januscxr.errors import MessageEncodingError, ReportInputError
from januscxr.interop.hl7_oru import MessageRouting, escaped, oru_r01
from januscxr.interop.order import ImagingOrder, OutgoingReport, Patient, ResultStatus
from tests.interop.outgoing import FINDINGS, IMPRESSION, ORDER, PATIENT, SIGNER, amended, draft, signed

ROUTING = MessageRouting(sending_facility="RAD", receiving_application="RIS", receiving_facility="HOSP")


def parse(report: OutgoingReport, **changes: object) -> hl7.Message:
    inputs: dict[str, object] = {"patient": PATIENT, "order": ORDER, "routing": ROUTING} | changes
    er7 = oru_r01(report, control_id="CTL-1", sent_at=datetime(2026, 11, 29, 10, 20), **inputs)  # type: ignore[arg-type]
    assert "\n" not in er7, "segments are separated by CR only"
    return hl7.parse(er7)


def text_of(message: hl7.Message, obx: hl7.Segment) -> str:
    """OBX-5 as the receiver shows it: one line per repetition, escape sequences decoded."""
    return "\n".join(message.unescape(str(repetition)) for repetition in obx[5])


def test_signed_report_is_final_with_order_numbers_and_both_sections() -> None:
    message = parse(signed())
    msh = message.segment("MSH")
    assert str(msh[9]) == "ORU^R01^ORU_R01"
    assert (str(message["MSH.F3"]), str(message["MSH.F4"]), str(message["MSH.F5"]), str(message["MSH.F6"])) == (
        "JANUSCXR",
        "RAD",
        "RIS",
        "HOSP",
    )
    assert (str(message["MSH.F10"]), str(message["MSH.F11"]), str(message["MSH.F12"])) == ("CTL-1", "P", "2.5.1")
    assert str(message["MSH.F18"]) == "UNICODE UTF-8"
    pid = message.segment("PID")
    assert (str(pid[3][0][0]), str(pid[3][0][3]), str(pid[3][0][4])) == ("PAT-0042", "HOSP", "MR")
    assert [str(c) for c in pid[5][0]] == [
        "Müller",
        "Zoë",
        "Ann",
        "",
        "Dr.",
    ]  # XPN: family, given, middle, suffix, prefix
    assert (str(pid[7]), str(pid[8])) == ("19500102", "F")
    orc, obr = message.segment("ORC"), message.segment("OBR")
    assert (str(orc[1]), str(orc[2]), str(orc[3]), str(orc[5])) == ("RE", "PLC-77", "FIL-88", "CM")
    assert (str(obr[2]), str(obr[3]), str(obr[18])) == ("PLC-77", "FIL-88", "ACC-2026-001")
    assert str(obr[4][0][0]) == "413815006" and str(obr[4][0][2]) == "SCT"
    assert str(obr[7]) == "20261129083000+0000"
    assert (str(obr[24]), str(obr[25])) == ("RAD", "F")
    assert str(obr[32]) == "&Ødegård&Åse"
    observations = message.segments("OBX")
    assert [str(o[3][0][0]) for o in observations] == ["59776-5", "19005-8"]
    assert [str(o[2]) for o in observations] == ["TX", "TX"]
    assert [str(o[11]) for o in observations] == ["F", "F"]
    assert str(observations[0][16]) == "^Ødegård^Åse"


def test_report_text_with_delimiters_and_line_breaks_survives_an_independent_parser() -> None:
    message = parse(signed())
    findings, impression = message.segments("OBX")
    assert text_of(message, findings) == FINDINGS.replace("\r\n", "\n")
    assert text_of(message, impression) == IMPRESSION
    assert len(findings[5]) == 4, "one TX repetition per line, the empty line included"


def test_a_line_longer_than_a_repetition_allows_is_wrapped_at_word_boundaries() -> None:
    """The composer's "not designed for detection of ..." line runs past 199 characters."""
    long_line = " ".join(f"word{i}|x" for i in range(60))  # 479 characters, every word with a delimiter
    message = parse(OutgoingReport.signed(f"First line.\n{long_line}", "x", SIGNER))
    (findings, _) = message.segments("OBX")
    lines = text_of(message, findings).split("\n")
    assert lines[0] == "First line." and len(lines) > 2
    assert " ".join(lines[1:]) == long_line  # nothing lost, only wrapped between words
    assert all(len(escaped(line)) <= 199 for line in lines)


@pytest.mark.parametrize(
    "text",
    ["a|b^c~d\\e&f", "\\F\\ \\S\\ \\.br\\ \\X0D\\", "ends with a backslash\\", "tab\tseparated", "日本語のテキスト"],
)
def test_escaping_round_trips(text: str) -> None:
    message = parse(OutgoingReport.signed(text, "x", SIGNER))
    assert text_of(message, message.segments("OBX")[0]) == text
    assert "|" not in escaped(text) and "^" not in escaped(text) and "~" not in escaped(text)


def test_addendum_corrects_the_report() -> None:
    message = parse(amended())
    assert str(message.segment("OBR")[25]) == "C"
    observations = message.segments("OBX")
    assert [str(o[3][0][0]) for o in observations] == ["59776-5", "19005-8", "55107-7"]
    assert [str(o[11]) for o in observations] == ["C", "C", "C"]
    addendum = observations[2]
    assert text_of(message, addendum) == "Correction: the pneumothorax is LEFT | not right."
    assert str(addendum[16]) == "^Jean-Luc Picard"  # a display name is taken whole as the family name
    assert str(addendum[14]) == "20261129120000+0000"
    assert str(message.segment("OBR")[22]) == "20261129120000+0000", "the report time is the latest signature"


def test_ai_draft_is_preliminary_without_an_interpreter() -> None:
    message = parse(draft())
    obr = message.segment("OBR")
    assert str(obr[25]) == "P"
    assert len(obr) <= 32, "no principal result interpreter (OBR-32)"
    assert str(message.segment("ORC")[5]) == "IP"
    assert [str(o[11]) for o in message.segments("OBX")] == ["P", "P"]


def test_missing_optional_values_are_left_empty() -> None:
    patient = Patient(patient_id="P1", name="Doe", sex="X")
    order = ImagingOrder(study_instance_uid="1.2.3", accession_number="A1")
    message = parse(signed(), patient=patient, order=order)
    pid, obr = message.segment("PID"), message.segment("OBR")
    assert (str(pid[5]), str(pid[7]), str(pid[8])) == ("Doe", "", "U")
    assert (str(obr[2]), str(obr[3]), str(obr[7]), str(obr[18])) == ("", "", "", "A1")


def test_a_blank_section_sends_no_observation() -> None:
    message = parse(OutgoingReport.signed(FINDINGS, "  ", SIGNER))
    assert [str(o[3][0][0]) for o in message.segments("OBX")] == ["59776-5"]


def test_a_fresh_control_id_when_none_is_given() -> None:
    first, second = (hl7.parse(oru_r01(signed(), PATIENT, ORDER, ROUTING)) for _ in range(2))
    assert str(first["MSH.F10"]) != str(second["MSH.F10"])
    assert len(str(first["MSH.F10"])) <= 20


@pytest.mark.parametrize(
    ("report", "changes", "field"),
    [
        (OutgoingReport.signed("bell\x07", IMPRESSION, SIGNER), {}, "report findings"),
        (OutgoingReport.signed(FINDINGS, "vt\x0b", SIGNER), {}, "report impression"),
        (OutgoingReport.signed(FINDINGS, "lone \ud800", SIGNER), {}, "report impression"),
        (None, {"patient": dataclasses.replace(PATIENT, patient_id=" ")}, "patient id (PID-3)"),
        (None, {"patient": dataclasses.replace(PATIENT, name="Doe\r^John")}, "patient name (PID-5)"),
        (None, {"order": dataclasses.replace(ORDER, accession_number="")}, "accession number (OBR-18)"),
        (None, {"order": dataclasses.replace(ORDER, filler_order_number="F\n1")}, "filler order number"),
        (None, {"routing": MessageRouting(processing_id="X")}, "processing id"),
        (None, {"routing": MessageRouting(receiving_facility="x" * 300)}, "receiving facility (MSH-6)"),
    ],
)
def test_values_that_cannot_be_encoded_name_the_field(
    report: OutgoingReport | None, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(MessageEncodingError, match=field.replace("(", r"\(").replace(")", r"\)")) as raised:
        parse(report or signed(), **changes)
    assert isinstance(raised.value, ReportInputError)
    assert "\n" not in str(raised.value)


def test_a_control_id_over_20_characters_is_refused() -> None:
    with pytest.raises(MessageEncodingError, match=r"message control id \(MSH-10\): 21 characters"):
        oru_r01(signed(), PATIENT, ORDER, ROUTING, control_id="x" * 21)


def test_a_report_neither_signed_nor_drafted_is_refused() -> None:
    with pytest.raises(MessageEncodingError, match="report: neither signed nor an AI draft"):
        OutgoingReport(findings="a", impression="b")


def test_status_follows_the_report() -> None:
    assert (signed().status, amended().status, draft().status) == (
        ResultStatus.FINAL,
        ResultStatus.AMENDED,
        ResultStatus.PRELIMINARY,
    )
    assert [s.hl7 for s in ResultStatus] == ["P", "F", "C"]


def test_addenda_need_a_signature() -> None:
    addendum = amended().addenda[0]
    with pytest.raises(MessageEncodingError, match="addenda on an unsigned report"):
        OutgoingReport(findings="a", impression="b", reporter="janus-pro-cxr-final", addenda=(addendum,))
