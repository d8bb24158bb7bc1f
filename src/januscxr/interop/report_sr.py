"""Reports as DICOM Enhanced SR, TID 2000 Basic Diagnostic Imaging Report.

A signed report is COMPLETE, VERIFIED and FINAL, with its signer as Verifying Observer. An
addendum gives a new SR holding the signed text and every addendum so far (each in an Addendum
section with its author), whose Predecessor Documents Sequence names the SR it replaces. The AI
draft can go out as a PARTIAL, UNVERIFIED, PRELIMINARY SR observed by the reporter model.

highdicom has no TID 2000 class; the tree is built from its content items:

    CONTAINER (18748-4, LN, "Diagnostic Imaging Report")          TID 2000, SEPARATE
      HAS CONCEPT MOD  Language of Content Item and Descendants    TID 1204
      HAS OBS CONTEXT  observer (person: the signer; device: the reporter model)   TID 1001
      HAS CONCEPT MOD  Procedure reported = Chest imaging
      CONTAINS CONTAINER Findings      > CONTAINS TEXT Finding     TID 2001 / 2002
      CONTAINS CONTAINER Impressions   > CONTAINS TEXT Impression
      CONTAINS CONTAINER Addendum      > HAS OBS CONTEXT author, CONTAINS TEXT Addendum  (each addendum)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from highdicom.sr import (
    CodeContentItem,
    CodedConcept,
    ContainerContentItem,
    ContentItem,
    ContentSequence,
    DeviceObserverIdentifyingAttributes,
    EnhancedSR,
    LanguageOfContentItemAndDescendants,
    ObservationContext,
    ObserverContext,
    PersonObserverIdentifyingAttributes,
    RelationshipTypeValues,
    TextContentItem,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid
from pydicom.valuerep import DT

from januscxr.interop.ai_sr import CHEST_IMAGING
from januscxr.interop.encoding import SPECIFIC_CHARACTER_SET, checked_line, checked_text, person_name
from januscxr.interop.source import MANUFACTURER, REPORT_SERIES_NUMBER, SOFTWARE_VERSION, NewInstance, evidence_dataset
from januscxr.types import DraftReport

REPORT_SERIES_DESCRIPTION = "Report (januscxr)"
DRAFT_SERIES_DESCRIPTION = "AI draft report (januscxr) - preliminary, not verified"
ENGLISH = CodedConcept(value="en-US", scheme_designator="RFC5646", meaning="English (United States)")

_CONTAINS = RelationshipTypeValues.CONTAINS
_HAS_CONCEPT_MOD = RelationshipTypeValues.HAS_CONCEPT_MOD


@dataclass(frozen=True)
class Signature:
    """Who signed, for which organisation, and when (timezone-aware, or naive UTC as stored)."""

    name: str  # as users see it ("Jane Smith"), or DICOM PN ("Smith^Jane")
    organization: str
    signed_at: datetime


@dataclass(frozen=True)
class SignedAddendum:
    text: str
    signature: Signature


def report_sr(
    source: Dataset,
    *,
    findings: str,
    impression: str,
    signature: Signature,
    addenda: Sequence[SignedAddendum] = (),
    previous: Dataset | None = None,
    instance: NewInstance | None = None,
) -> EnhancedSR:
    """The signed report on the study of ``source``: COMPLETE, VERIFIED, FINAL.

    Parameters
    ----------
    source
        An image of the study (header only): the SR copies its patient and study and references it.
    findings, impression
        The signed sections.
    signature
        The signer: Verifying Observer Name and Organization, Verification DateTime.
    addenda
        Addenda so far, oldest first: each adds an Addendum section and a Verifying Observer.
    previous
        The SR this one replaces (the last one sent): named in Predecessor Documents Sequence; the
        new SR joins its series as the next instance unless ``instance`` says otherwise.

    Raises
    ------
    DicomEncodingError
        A text or name cannot be encoded; the message names the field.
    """
    evidence = evidence_dataset(source)
    observer = _person_context(signature, field="signer")
    sections = [
        _section(codes.LN.Findings, codes.DCM.Finding, checked_text(findings, field="report findings")),
        _section(codes.LN.Impressions, codes.DCM.Impression, checked_text(impression, field="report impression")),
    ]
    for number, addendum in enumerate(addenda, start=1):
        text = checked_text(addendum.text, field=f"addendum {number} text")
        author = _person_context(addendum.signature, field=f"addendum {number} author")
        sections.append(_section(codes.LN.Addendum, codes.LN.Addendum, text, observer=author))
    signatures = [signature, *(a.signature for a in addenda)]
    if previous is not None and instance is None:
        instance = NewInstance(
            series_instance_uid=previous.SeriesInstanceUID,
            series_number=int(previous.get("SeriesNumber") or REPORT_SERIES_NUMBER),
            instance_number=int(previous.get("InstanceNumber") or 0) + 1,
        )
    instance = instance or NewInstance(series_number=REPORT_SERIES_NUMBER)
    latest = max(_aware(s.signed_at) for s in signatures).astimezone()  # DA/TM are local time
    sr = EnhancedSR(
        evidence=[evidence],
        content=_document(observer, sections),
        series_instance_uid=instance.series_uid(),
        series_number=instance.series_number,
        sop_instance_uid=instance.sop_uid(),
        instance_number=instance.instance_number,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=True,
        is_verified=True,
        verifying_observer_name=person_name(signature.name, field="signer name"),
        verifying_organization=checked_line(signature.organization, field="signer organization"),
        previous_versions=None if previous is None else [previous],
        series_description=REPORT_SERIES_DESCRIPTION,
        software_versions=SOFTWARE_VERSION,
        specific_character_set=SPECIFIC_CHARACTER_SET,
        content_date=latest.date(),
        content_time=latest.time(),
    )
    sr.VerifyingObserverSequence = [_verifying_observer(s, number) for number, s in enumerate(signatures)]
    return sr


def draft_report_sr(source: Dataset, draft: DraftReport, *, instance: NewInstance | None = None) -> EnhancedSR:
    """The AI draft as a preliminary SR: PARTIAL, UNVERIFIED, PRELIMINARY, observed by the reporter model."""
    evidence = evidence_dataset(source)
    reporter = checked_line(draft.reporter, field="reporter")
    device = ObservationContext(
        observer_device_context=ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
                uid=str(generate_uid(entropy_srcs=["januscxr", reporter])),
                name=reporter,
                manufacturer_name=MANUFACTURER,
                model_name=reporter,
            ),
        )
    )
    sections = [
        _section(codes.LN.Findings, codes.DCM.Finding, checked_text(draft.findings, field="draft findings")),
        _section(codes.LN.Impressions, codes.DCM.Impression, checked_text(draft.impression, field="draft impression")),
    ]
    instance = instance or NewInstance(series_number=REPORT_SERIES_NUMBER)
    return EnhancedSR(
        evidence=[evidence],
        content=_document(device, sections),
        series_instance_uid=instance.series_uid(),
        series_number=instance.series_number,
        sop_instance_uid=instance.sop_uid(),
        instance_number=instance.instance_number,
        manufacturer=MANUFACTURER,
        series_description=DRAFT_SERIES_DESCRIPTION,
        software_versions=SOFTWARE_VERSION,
        specific_character_set=SPECIFIC_CHARACTER_SET,
    )


def _document(observer: ObservationContext, sections: list[ContainerContentItem]) -> ContainerContentItem:
    root = ContainerContentItem(name=codes.LN.DiagnosticImagingReport, template_id="2000", is_content_continuous=False)
    procedure = CodeContentItem(
        name=codes.DCM.ProcedureReported, value=CHEST_IMAGING, relationship_type=_HAS_CONCEPT_MOD
    )
    root.ContentSequence = ContentSequence(
        [*LanguageOfContentItemAndDescendants(ENGLISH), *observer, procedure, *sections]
    )
    return root


def _section(
    heading: Code, element: Code, text: str, *, observer: ObservationContext | None = None
) -> ContainerContentItem:
    """A TID 2001 heading holding one TEXT item (none when the text is blank)."""
    container = ContainerContentItem(name=heading, relationship_type=_CONTAINS, is_content_continuous=True)
    items: list[ContentItem] = [] if observer is None else [*observer]
    if text.strip():
        items.append(TextContentItem(name=element, value=text, relationship_type=_CONTAINS))
    if items:
        container.ContentSequence = ContentSequence(items)
    return container


def _person_context(signature: Signature, *, field: str) -> ObservationContext:
    return ObservationContext(
        observer_person_context=ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=PersonObserverIdentifyingAttributes(
                name=person_name(signature.name, field=f"{field} name"),
                organization_name=checked_line(signature.organization, field=f"{field} organization"),
            ),
        )
    )


def _aware(moment: datetime) -> datetime:
    """A naive datetime is UTC, as januscxr stores it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _verifying_observer(signature: Signature, number: int) -> Dataset:
    field = "signer" if number == 0 else f"addendum {number} author"
    item = Dataset()
    item.VerifyingObserverName = person_name(signature.name, field=f"{field} name")
    item.VerifyingOrganization = checked_line(signature.organization, field=f"{field} organization")
    item.VerificationDateTime = DT(_aware(signature.signed_at))
    item.VerifyingObserverIdentificationCodeSequence = []
    return item
