"""The source image as the objects januscxr writes see it: its identifiers and the patient and study it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from januscxr import __version__
from januscxr.errors import DicomEncodingError

MANUFACTURER = "januscxr"
SOFTWARE_VERSION = __version__

# Series numbers of the objects januscxr adds to a study: high, so they sort after the acquisition.
AI_SR_SERIES_NUMBER = 9901
HEATMAP_SERIES_NUMBER = 9902
REPORT_SERIES_NUMBER = 9903

# Patient and General Study attributes that are Type 2 in every IOD januscxr writes: copied from
# the source when present, written empty when not (highdicom reads them from the evidence).
_TYPE2 = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)
_REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID")


@dataclass(frozen=True)
class NewInstance:
    """Where a new object goes: its series (new, in the source study) and its own identifiers.

    Leave the UIDs None for fresh ones; give them to write the same object again with the same
    identity (a resend is then recognised by its SOP Instance UID).
    """

    series_instance_uid: str | None = None
    series_number: int = AI_SR_SERIES_NUMBER
    sop_instance_uid: str | None = None
    instance_number: int = 1

    def series_uid(self) -> UID:
        return UID(self.series_instance_uid or generate_uid())

    def sop_uid(self) -> UID:
        return UID(self.sop_instance_uid or generate_uid())


def evidence_dataset(source: Dataset) -> Dataset:
    """The source's header with the Type 2 patient and study attributes present (empty when unknown).

    Raises
    ------
    DicomEncodingError
        The source lacks a UID that the new objects must reference (study, series, SOP class or instance).
    """
    for keyword in _REQUIRED_UIDS:
        if not str(source.get(keyword, "") or "").strip():
            raise DicomEncodingError(f"source image: {keyword} is missing; expected the UID of the image read")
    evidence = Dataset()
    for keyword in (
        *_REQUIRED_UIDS,
        "SpecificCharacterSet",
        "Modality",
        "BodyPartExamined",
        "PatientOrientation",
        *_TYPE2,
    ):
        if keyword in source:
            setattr(evidence, keyword, source[keyword].value)
    for keyword in _TYPE2:
        if keyword not in evidence or evidence[keyword].value is None:
            setattr(evidence, keyword, "")
    for keyword in ("PatientName", "ReferringPhysicianName"):
        name = str(evidence[keyword].value)
        if name and "^" not in name:  # the same name (trailing carets are optional), unambiguous to highdicom
            setattr(evidence, keyword, f"{name}^")
    if source.get("Laterality"):
        evidence.Laterality = source.Laterality
    return evidence
