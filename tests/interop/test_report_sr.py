"""TID 2000 report SRs: signed, amended by addendum, AI draft; read back and validated by dciodvfy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from januscxr.interop import DicomEncodingError, Signature, SignedAddendum, draft_report_sr, report_sr
from januscxr.types import DraftReport, FloatArray
from tests.interop.conftest import dciodvfy

FINDINGS = "Right apical pneumothorax, about 2 cm.\nNo pleural effusion. Heart size normal (CTR 0.45)."
IMPRESSION = "Right pneumothorax — café-au-lait spots noted."  # non-Latin-1 dash: encoded as UTF-8
SIGNER = Signature("Jane Smith", "St Elsewhere Radiology", datetime(2026, 11, 29, 14, 3, 5, tzinfo=UTC))
AMENDER = Signature("Okafor^Chidi", "St Elsewhere Radiology", datetime(2026, 11, 29, 15, 10))  # naive: UTC


def sections(document: Dataset) -> dict[str, list[str]]:
    """Heading meaning -> the TEXT values under it."""
    found: dict[str, list[str]] = {}
    for item in document.ContentSequence:
        if item.ValueType == "CONTAINER":
            heading = item.ConceptNameCodeSequence[0].CodeMeaning
            children = item.get("ContentSequence", [])
            found[heading] = [
                c.TextValue for c in children if c.ValueType == "TEXT" and c.RelationshipType == "CONTAINS"
            ]
    return found


def test_signed_report(source: tuple[Dataset, FloatArray], tmp_path: Path) -> None:
    header, _ = source
    messages = dciodvfy(
        report_sr(header, findings=FINDINGS, impression=IMPRESSION, signature=SIGNER), tmp_path / "r.dcm"
    )
    back = pydicom.dcmread(tmp_path / "r.dcm")
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR Storage
    assert back.StudyInstanceUID == header.StudyInstanceUID and back.SeriesInstanceUID != header.SeriesInstanceUID
    assert (back.CompletionFlag, back.VerificationFlag, back.PreliminaryFlag) == ("COMPLETE", "VERIFIED", "FINAL")
    (observer,) = back.VerifyingObserverSequence
    assert str(observer.VerifyingObserverName) == "Jane Smith^"
    assert observer.VerifyingOrganization == "St Elsewhere Radiology"
    assert observer.VerificationDateTime == "20261129140305+0000"
    assert back.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    assert back.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert sections(back) == {"Findings": [FINDINGS], "Impressions": [IMPRESSION]}
    assert "PredecessorDocumentsSequence" not in back
    evidence = back.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
    print("\n".join(messages))


def test_addendum_names_its_predecessor(source: tuple[Dataset, FloatArray], tmp_path: Path) -> None:
    header, _ = source
    signed = report_sr(header, findings=FINDINGS, impression=IMPRESSION, signature=SIGNER)
    addendum = SignedAddendum("Discussed with the referring team at 15:05.", AMENDER)
    amended = report_sr(
        header, findings=FINDINGS, impression=IMPRESSION, signature=SIGNER, addenda=[addendum], previous=signed
    )
    dciodvfy(amended, tmp_path / "a.dcm")
    back = pydicom.dcmread(tmp_path / "a.dcm")
    assert back.SOPInstanceUID != signed.SOPInstanceUID
    assert (back.SeriesInstanceUID, back.InstanceNumber) == (signed.SeriesInstanceUID, 2)
    (study,) = back.PredecessorDocumentsSequence
    assert study.StudyInstanceUID == header.StudyInstanceUID
    (series,) = study.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == signed.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == signed.SOPInstanceUID
    assert sections(back) == {"Findings": [FINDINGS], "Impressions": [IMPRESSION], "Addendum": [addendum.text]}
    (section,) = [i for i in back.ContentSequence if i.ConceptNameCodeSequence[0].CodeMeaning == "Addendum"]
    authors = [str(i.PersonName) for i in section.ContentSequence if i.ValueType == "PNAME"]
    assert authors == ["Okafor^Chidi"]  # the addendum's author, in its section's observation context
    names = [str(o.VerifyingObserverName) for o in back.VerifyingObserverSequence]
    assert names == ["Jane Smith^", "Okafor^Chidi"]
    assert back.VerifyingObserverSequence[1].VerificationDateTime == "20261129151000+0000"


def test_ai_draft_is_preliminary(source: tuple[Dataset, FloatArray], tmp_path: Path) -> None:
    header, _ = source
    draft = DraftReport(findings="There is a right pneumothorax.", impression="Pneumothorax.", reporter="fake-reporter")
    dciodvfy(draft_report_sr(header, draft), tmp_path / "d.dcm")
    back = pydicom.dcmread(tmp_path / "d.dcm")
    assert (back.CompletionFlag, back.VerificationFlag, back.PreliminaryFlag) == (
        "PARTIAL",
        "UNVERIFIED",
        "PRELIMINARY",
    )
    assert "VerifyingObserverSequence" not in back
    assert sections(back) == {"Findings": [draft.findings], "Impressions": [draft.impression]}
    assert "not verified" in back.SeriesDescription


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"findings": "Pneumothorax.\x00"}, r"^report findings: control character U\+0000 at position 13"),
        ({"impression": "bad \x1b[31m"}, r"^report impression: control character U\+001B"),
        ({"impression": "half a pair \ud83d"}, r"^report impression: unpaired surrogate U\+D83D"),
        (
            {"signature": Signature("J" * 70, "Org", SIGNER.signed_at)},
            r"^signer name: 71 characters; expected at most 64",
        ),
        ({"signature": Signature("Jane", "O" * 65, SIGNER.signed_at)}, r"^signer organization: 65 characters"),
        ({"signature": Signature("Jane\\Smith", "Org", SIGNER.signed_at)}, r"^signer name: contains a backslash"),
        (
            {"addenda": [SignedAddendum("ok\x0c\tstill ok\x85", AMENDER)]},
            r"^addendum 1 text: control character U\+0085",
        ),
        (
            {"addenda": [SignedAddendum("ok", Signature("", "Org", SIGNER.signed_at))]},
            r"^addendum 1 author name: empty",
        ),
    ],
)
def test_unencodable_report_names_the_field(
    source: tuple[Dataset, FloatArray], change: dict[str, object], message: str
) -> None:
    header, _ = source
    arguments: dict[str, object] = {"findings": FINDINGS, "impression": IMPRESSION, "signature": SIGNER} | change
    with pytest.raises(DicomEncodingError, match=message) as raised:
        report_sr(header, **arguments)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)
