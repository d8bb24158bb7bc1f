"""What a report sent to the RIS or the EHR answers: the patient, the imaging order, the report and its status.

The study table holds the accession number, patient id, name and sex, but not the placer and
filler order numbers or the birth date (they come with the RIS's order, not with the images):
those are inputs here, given by whoever keeps them. The HL7 v2 and FHIR encoders take the same
three values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from pydicom.sr.codedict import codes

from januscxr.errors import MessageEncodingError
from januscxr.interop.report_sr import Signature, SignedAddendum
from januscxr.labels import FindingCode
from januscxr.types import DraftReport

# The procedure when the order does not name one: SNOMED CT "Chest imaging", as in the SRs.
CHEST_IMAGING = FindingCode("SCT", codes.SCT.ChestImaging.value, codes.SCT.ChestImaging.meaning)


class ResultStatus(StrEnum):
    """Where a report stands as the RIS and the EHR see it: HL7 v2 table 0123, FHIR DiagnosticReport.status."""

    PRELIMINARY = "preliminary"  # the AI draft, not verified
    FINAL = "final"  # signed
    AMENDED = "amended"  # signed, then corrected by an addendum

    @property
    def hl7(self) -> str:
        """OBR-25 / OBX-11: P, F or C."""
        return {"preliminary": "P", "final": "F", "amended": "C"}[self.value]


@dataclass(frozen=True)
class Patient:
    """The patient as the RIS knows them.

    ``name`` is DICOM PN (``Family^Given^Middle``) or a name as users see it (taken whole as the
    family name); ``sex`` is DICOM's M, F or O (anything else is sent as unknown).
    """

    patient_id: str
    name: str = ""
    birth_date: date | None = None
    sex: str | None = None
    issuer: str | None = None  # Issuer of Patient ID: HL7 PID-3 assigning authority


@dataclass(frozen=True)
class ImagingOrder:
    """The order a report answers: the study and the RIS's identifiers of it.

    ``placer_order_number`` (the ordering system's) and ``filler_order_number`` (the RIS's) are
    not stored with the study; give them when the RIS's order carries them. ``procedure`` is the
    ordered procedure's code, echoed in OBR-4 and DiagnosticReport.code's second coding.
    """

    study_instance_uid: str
    accession_number: str
    placer_order_number: str | None = None
    filler_order_number: str | None = None
    study_datetime: datetime | None = None  # naive: UTC, as januscxr stores it
    procedure: FindingCode = CHEST_IMAGING


@dataclass(frozen=True)
class OutgoingReport:
    """A report as it leaves: the signed text and its addenda, or the AI draft.

    Build it with :meth:`signed` or :meth:`draft`; ``status`` follows from what it holds.
    """

    findings: str
    impression: str
    signature: Signature | None = None
    addenda: tuple[SignedAddendum, ...] = ()
    reporter: str | None = None  # the reporter model of an AI draft

    def __post_init__(self) -> None:
        if self.signature is None and not self.reporter:
            raise MessageEncodingError("report: neither signed nor an AI draft; expected a signature or a reporter")
        if self.signature is None and self.addenda:
            raise MessageEncodingError("report: addenda on an unsigned report; expected a signature first")

    @classmethod
    def signed(
        cls, findings: str, impression: str, signature: Signature, addenda: Sequence[SignedAddendum] = ()
    ) -> OutgoingReport:
        return cls(findings=findings, impression=impression, signature=signature, addenda=tuple(addenda))

    @classmethod
    def draft(cls, draft: DraftReport) -> OutgoingReport:
        return cls(findings=draft.findings, impression=draft.impression, reporter=draft.reporter)

    @property
    def status(self) -> ResultStatus:
        if self.signature is None:
            return ResultStatus.PRELIMINARY
        return ResultStatus.AMENDED if self.addenda else ResultStatus.FINAL

    @property
    def signatures(self) -> list[Signature]:
        """The signer, then each addendum's author."""
        return [] if self.signature is None else [self.signature, *(a.signature for a in self.addenda)]

    def reported_at(self, default: datetime) -> datetime:
        """When this version was made: the latest signature (timezone-aware), or ``default`` for a draft."""
        moments = [aware(s.signed_at) for s in self.signatures]
        return max(moments) if moments else aware(default)


def aware(moment: datetime) -> datetime:
    """A naive datetime is UTC, as januscxr stores it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
