"""Reports as HL7 v2.5.1 ORU^R01 (unsolicited observation result), built with hl7apy.

    MSH  sending / receiving application and facility, message control id, processing id, UTF-8
    PID  patient id (with its assigning authority), name, birth date, sex
    ORC  RE (observations to follow), placer and filler order numbers, order status
    OBR  placer and filler order numbers, procedure, observation date/time (the study),
         accession number (OBR-18), report date/time, RAD, result status, principal interpreter
    OBX  TX: FINDINGS, IMPRESSION, then one per addendum; OBX-11 the same status as OBR-25

Result status (table 0123): F when signed, C when an addendum corrects it, P for an AI draft.

Text: every value is escaped here, before hl7apy sees it (``\\`` as ``\\E\\``, then ``|`` ``^``
``&`` ``~`` as ``\\F\\`` ``\\S\\`` ``\\T\\`` ``\\R\\``), so a delimiter in report text, a name or
an identifier can never split a field. Line breaks: the report text is OBX-5 of type TX, one
repetition per line, which HL7 defines as a hard line break for TX (v2.5.1 2.A.79); FT's
``\\.br\\`` is not used because hl7apy escapes formatting commands it does not know. hl7apy
caps each repetition at 199 characters (it types OBX-5 "varies" as ST), so a longer line is
wrapped at word boundaries into repetitions of at most 66 characters (199 even if every one is
an escaped delimiter).
"""

from __future__ import annotations

import re
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-untyped]
from hl7apy.core import Group, Message, Segment  # type: ignore[import-untyped]
from hl7apy.exceptions import HL7apyException  # type: ignore[import-untyped]
from pydicom.sr.codedict import codes

from januscxr.errors import MessageEncodingError
from januscxr.interop.order import ImagingOrder, OutgoingReport, Patient, ResultStatus, aware
from januscxr.interop.report_sr import Signature

HL7_VERSION = "2.5.1"
CHARACTER_SET = "UNICODE UTF-8"  # MSH-18, table 0211: the message is sent as UTF-8 bytes
MESSAGE_TYPE = "ORU^R01^ORU_R01"
PROCESSING_IDS = ("P", "T", "D")  # table 0103: production, training, debugging
CONTROL_ID_MAX_CHARS = 20  # MSH-10 (ST, 20)
ST_MAX_CHARS = 199
WRAP_CHARS = ST_MAX_CHARS // 3  # a wrapped line fits even if every character is an escaped delimiter

# OBX-3 of each section: the LOINC codes the TID 2000 SR uses for its headings.
FINDINGS = codes.LN.Findings  # 59776-5
IMPRESSION = codes.LN.Impressions  # 19005-8
ADDENDUM = codes.LN.Addendum  # 55107-7

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # TAB, LF and CR allowed
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEX = {"M": "M", "F": "F", "O": "O"}  # DICOM Patient's Sex -> table 0001; anything else is U


@dataclass(frozen=True)
class MessageRouting:
    """MSH-3 to MSH-6 and MSH-11, from the settings: who sends, who receives, production or test."""

    sending_application: str = "JANUSCXR"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"


def oru_r01(
    report: OutgoingReport,
    patient: Patient,
    order: ImagingOrder,
    routing: MessageRouting,
    *,
    control_id: str | None = None,
    sent_at: datetime | None = None,
) -> str:
    """The ORU^R01 of ``report`` in ER7, segments separated by CR (send it as UTF-8).

    Parameters
    ----------
    report
        The signed report (F), amended by addenda (C), or the AI draft (P).
    patient, order
        The patient and the order the report answers (accession, placer and filler order numbers).
    routing
        MSH sending and receiving application and facility, processing id.
    control_id
        MSH-10, echoed in the ACK's MSA-2 (default: a fresh random one); at most 20 characters.
    sent_at
        MSH-7 (default: now).

    Raises
    ------
    MessageEncodingError
        A value is missing, has a control character or is too long; the message names the field.
    """
    control_id = control_id or uuid.uuid4().hex[:CONTROL_ID_MAX_CHARS]
    sent_at = aware(sent_at or datetime.now(UTC))
    message = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _header(message.msh, routing, control_id, sent_at)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _patient(result.add_group("ORU_R01_PATIENT").add_segment("PID"), patient)
    order_group = result.add_group("ORU_R01_ORDER_OBSERVATION")
    _order(order_group, order, report, reported_at=report.reported_at(sent_at))
    for number, (code, text, signature) in enumerate(_sections(report), start=1):
        if text.strip():
            obx = order_group.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
            _observation(obx, number, code, text, signature, report.status)
    try:
        message.validate()
    except HL7apyException as error:
        raise MessageEncodingError(f"ORU^R01: {error}; expected a message valid against HL7 v{HL7_VERSION}") from error
    return str(message.to_er7())


def _text_lines(text: str) -> list[str]:
    """The escaped repetitions of a TX value: one per line, long lines wrapped at word boundaries."""
    lines = []
    for line in _LINE_BREAK.split(text):
        if len(escaped(line)) <= ST_MAX_CHARS:
            lines.append(escaped(line))
        else:
            wrapped = textwrap.wrap(line, WRAP_CHARS, break_on_hyphens=False, drop_whitespace=True)
            lines.extend(escaped(part) for part in wrapped)
    return lines


def escaped(value: str) -> str:
    """``value`` with HL7's delimiters replaced by their escape sequences (the escape character first)."""
    for char, sequence in _ESCAPES:
        value = value.replace(char, sequence)
    return value


def _header(msh: Segment, routing: MessageRouting, control_id: str, sent_at: datetime) -> None:
    if routing.processing_id not in PROCESSING_IDS:
        raise MessageEncodingError(
            f"processing id: {routing.processing_id!r}; expected one of {', '.join(PROCESSING_IDS)} (MSH-11)"
        )
    msh.msh_3 = _line(routing.sending_application, field="sending application (MSH-3)")
    msh.msh_4 = _line(routing.sending_facility, field="sending facility (MSH-4)")
    msh.msh_5 = _line(routing.receiving_application, field="receiving application (MSH-5)")
    msh.msh_6 = _line(routing.receiving_facility, field="receiving facility (MSH-6)")
    msh.msh_7 = _timestamp(sent_at)
    msh.msh_9 = MESSAGE_TYPE
    msh.msh_10 = _line(control_id, field="message control id (MSH-10)", required=True, max_chars=CONTROL_ID_MAX_CHARS)
    msh.msh_11 = routing.processing_id
    msh.msh_18 = CHARACTER_SET


def _patient(pid: Segment, patient: Patient) -> None:
    pid.pid_1 = "1"
    identifier = _line(patient.patient_id, field="patient id (PID-3)", required=True)
    issuer = _line(patient.issuer or "", field="patient id issuer (PID-3.4)")
    pid.pid_3 = f"{identifier}^^^{issuer}^MR" if issuer else f"{identifier}^^^^MR"
    pid.pid_5 = _person_name(patient.name, field="patient name (PID-5)")
    if patient.birth_date is not None:
        pid.pid_7 = _date(patient.birth_date)
    pid.pid_8 = _SEX.get((patient.sex or "").strip().upper(), "U")


def _order(group: Group, order: ImagingOrder, report: OutgoingReport, *, reported_at: datetime) -> None:
    placer = _line(order.placer_order_number or "", field="placer order number (ORC-2, OBR-2)")
    filler = _line(order.filler_order_number or "", field="filler order number (ORC-3, OBR-3)")
    accession = _line(order.accession_number, field="accession number (OBR-18)", required=True)
    orc = group.add_segment("ORC")
    orc.orc_1 = "RE"
    orc.orc_2 = placer
    orc.orc_3 = filler
    orc.orc_5 = "IP" if report.status is ResultStatus.PRELIMINARY else "CM"  # table 0038: in process, completed
    obr = group.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_2 = placer
    obr.obr_3 = filler
    procedure = order.procedure
    obr.obr_4 = "^".join(
        _line(part, field="procedure code (OBR-4)", required=True)
        for part in (procedure.value, procedure.meaning, procedure.scheme)
    )
    if order.study_datetime is not None:
        obr.obr_7 = _timestamp(aware(order.study_datetime))
    obr.obr_18 = accession
    obr.obr_22 = _timestamp(reported_at)
    obr.obr_24 = "RAD"  # table 0074: radiology
    obr.obr_25 = report.status.hl7
    if report.signature is not None:
        obr.obr_32 = "&" + "&".join(_name_parts(report.signature.name, field="signer name (OBR-32)")[:2])


def _sections(report: OutgoingReport) -> list[tuple[tuple[str, str], str, Signature | None]]:
    """(OBX-3 code and sub-id, text, who signed it) for FINDINGS, IMPRESSION and each addendum."""
    sections: list[tuple[tuple[str, str], str, Signature | None]] = [
        (
            (_coded(FINDINGS.value, FINDINGS.meaning), "1"),
            _text(report.findings, field="report findings"),
            report.signature,
        ),
        (
            (_coded(IMPRESSION.value, IMPRESSION.meaning), "1"),
            _text(report.impression, field="report impression"),
            report.signature,
        ),
    ]
    for number, addendum in enumerate(report.addenda, start=1):
        text = _text(addendum.text, field=f"addendum {number} text")
        sections.append(((_coded(ADDENDUM.value, ADDENDUM.meaning), str(number)), text, addendum.signature))
    return sections


def _observation(
    obx: Segment,
    set_id: int,
    code: tuple[str, str],
    text: str,
    signature: Signature | None,
    status: ResultStatus,
) -> None:
    obx.obx_1 = str(set_id)
    obx.obx_2 = "TX"
    obx.obx_3, obx.obx_4 = code
    for line in _text_lines(text):  # TX: one repetition per line
        obx.add_field("OBX_5").value = line
    obx.obx_11 = status.hl7
    if signature is not None:
        obx.obx_14 = _timestamp(aware(signature.signed_at))
        family, given = _name_parts(signature.name, field=f"observer name (OBX-16, OBX {set_id})")[:2]
        obx.obx_16 = f"^{family}^{given}"


def _coded(value: str, meaning: str) -> str:
    return f"{escaped(value)}^{escaped(meaning)}^LN"


def _text(value: str, *, field: str) -> str:
    """Report text: any line breaks, TAB, no other control character and nothing UTF-8 cannot encode."""
    if match := _TEXT_CONTROL.search(value):
        raise MessageEncodingError(
            f"{field}: character U+{ord(match.group()):04X} at position {match.start()}; "
            "expected text with TAB, LF and CR as the only control characters"
        )
    return value


def _line(value: str, *, field: str, required: bool = False, max_chars: int = ST_MAX_CHARS) -> str:
    """A one-line value, escaped: no control character, at most ``max_chars``; non-empty when ``required``."""
    if required and not value.strip():
        raise MessageEncodingError(f"{field}: empty; expected a value")
    if match := _LINE_CONTROL.search(value):
        raise MessageEncodingError(
            f"{field}: character U+{ord(match.group()):04X} at position {match.start()}; expected a single line of text"
        )
    if len(value) > max_chars:
        raise MessageEncodingError(f"{field}: {len(value)} characters; expected at most {max_chars}")
    return escaped(value.strip())


def _name_parts(name: str, *, field: str) -> list[str]:
    """Family, given, middle, suffix, prefix (XPN order), escaped, from DICOM PN or a display name."""
    alphabetic = name.split("=", 1)[0]  # DICOM PN: the alphabetic group; ideographic and phonetic are dropped
    parts = alphabetic.split("^") if "^" in alphabetic else [alphabetic]
    parts = [*parts, "", "", "", "", ""][:5]
    family, given, middle, prefix, suffix = (_line(p, field=field) for p in parts)  # DICOM PN order
    return [family, given, middle, suffix, prefix]


def _person_name(name: str, *, field: str) -> str:
    return "^".join(_name_parts(name, field=field)).rstrip("^")


def _timestamp(moment: datetime) -> str:
    """HL7 DTM with seconds and its UTC offset."""
    return moment.strftime("%Y%m%d%H%M%S%z")


def _date(day: date) -> str:
    return day.strftime("%Y%m%d")
