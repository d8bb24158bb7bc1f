"""A patient, an order and reports to send to the RIS and the EHR (shared by the interop and pacs tests)."""

from __future__ import annotations

from datetime import date, datetime

from januscxr.interop.ai_sr import Algorithm
from januscxr.interop.order import ImagingOrder, OutgoingReport, Patient
from januscxr.interop.report_sr import Signature, SignedAddendum
from januscxr.labels import Finding
from januscxr.types import DraftReport, FindingResult

# Every HL7 delimiter, the escape character, a literal escape sequence, line breaks and non-ASCII text.
FINDINGS = "Right apical pneumothorax | 2 cm ^ rim & no shift ~ stable.\nTube at C:\\lines\\F\\ level.\r\n\nHeart: normal (Ø 12 cm)."
IMPRESSION = "1. Pneumothorax, right.\n2. No effusion — see prior."
SIGNER = Signature(name="Ødegård^Åse", organization="St. Olav Hospital", signed_at=datetime(2026, 11, 29, 10, 15))
PATIENT = Patient(patient_id="PAT-0042", name="Müller^Zoë^Ann^Dr.", birth_date=date(1950, 1, 2), sex="F", issuer="HOSP")
ORDER = ImagingOrder(
    study_instance_uid="1.2.826.0.1.3680043.8.498.1",
    accession_number="ACC-2026-001",
    placer_order_number="PLC-77",
    filler_order_number="FIL-88",
    study_datetime=datetime(2026, 11, 29, 8, 30),
)
ALGORITHM = Algorithm(model_id="densenet121-res224-all", version="1.0", weights_sha256="ab" * 32)
RESULTS = (
    FindingResult(Finding.PNEUMOTHORAX, probability=0.91, threshold=0.3, urgent_threshold=0.6),
    FindingResult(Finding.PLEURAL_EFFUSION, probability=0.35, threshold=0.3),
    FindingResult(Finding.LUNG_LESION, probability=0.05, threshold=0.3),
)


def signed() -> OutgoingReport:
    return OutgoingReport.signed(FINDINGS, IMPRESSION, SIGNER)


def amended() -> OutgoingReport:
    addendum = SignedAddendum(
        text="Correction: the pneumothorax is LEFT | not right.",
        signature=Signature(
            name="Jean-Luc Picard", organization="St. Olav Hospital", signed_at=datetime(2026, 11, 29, 12)
        ),
    )
    return OutgoingReport.signed(FINDINGS, IMPRESSION, SIGNER, [addendum])


def draft() -> OutgoingReport:
    return OutgoingReport.draft(
        DraftReport(findings="Possible right pneumothorax.", impression="Pneumothorax?", reporter="janus-pro-cxr-final")
    )
