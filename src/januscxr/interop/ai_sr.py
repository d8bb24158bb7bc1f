"""The classifier's results as a DICOM Comprehensive 3D SR, TID 1500 Measurement Report.

One measurement group (TID 1501) per assessed finding: the finding as a coded concept
(:data:`januscxr.labels.FINDING_CODES`), present / possible / absent as a qualitative evaluation,
the probability and the threshold as numeric measurements, the algorithm that produced them, and
the source image. The SR is a new series in the source image's study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import highdicom as hd
from highdicom.sr import (
    AlgorithmIdentification,
    CodedConcept,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from januscxr.interop.encoding import SPECIFIC_CHARACTER_SET, checked_line
from januscxr.interop.source import (
    AI_SR_SERIES_NUMBER,
    MANUFACTURER,
    SOFTWARE_VERSION,
    NewInstance,
    evidence_dataset,
)
from januscxr.labels import LOCAL_CODING_SCHEME, Finding, FindingCode
from januscxr.types import FindingResult

SHA256_PREFIX_CHARS = 12
AI_SR_SERIES_DESCRIPTION = "AI results (januscxr) - not for diagnostic use"

# Concept names of the measurement group's items (DICOM's own codes, PS3.16).
PROBABILITY = codes.DCM.Probability  # (122157, DCM)
THRESHOLD = codes.DCM.ThresholdValue  # (122411, DCM)
PRESENCE = codes.DCM.PresenceOfProperty  # (121052, DCM)
NO_UNITS = codes.UCUM.NoUnits  # ("1", UCUM): a probability is a pure number
CHEST_IMAGING = codes.SCT.ChestImaging  # (413815006, SCT) the procedure reported


class Presence(StrEnum):
    """How the classifier calls a finding, as the draft words it."""

    PRESENT = "present"
    POSSIBLE = "possible"
    ABSENT = "absent"

    @classmethod
    def of(cls, result: FindingResult) -> Presence:
        if not result.flagged:
            return cls.ABSENT
        return cls.POSSIBLE if result.uncertain else cls.PRESENT

    @property
    def code(self) -> FindingCode:
        """Present and Absent of DICOM CID 240; "possible" is SNOMED CT's Suspected (no "possible" in CID 240)."""
        return _PRESENCE_CODES[self]


_PRESENCE_CODES = {
    Presence.PRESENT: FindingCode("SCT", "52101004", "Present"),
    Presence.POSSIBLE: FindingCode("SCT", "415684004", "Suspected"),
    Presence.ABSENT: FindingCode("SCT", "272519000", "Absent"),
}


@dataclass(frozen=True)
class Algorithm:
    """The classifier that produced the results: its registry id, version and weights' sha256."""

    model_id: str
    version: str
    weights_sha256: str | None = None

    @property
    def parameters(self) -> list[str]:
        """Algorithm Parameters: the weights' sha256 prefix, which pins the exact weights."""
        if not self.weights_sha256:
            return []
        return [f"weights sha256 {self.weights_sha256[:SHA256_PREFIX_CHARS]}"]

    def identification(self) -> AlgorithmIdentification:
        return AlgorithmIdentification(
            name=checked_line(self.model_id, field="algorithm name (model id)"),
            version=checked_line(self.version, field="algorithm version"),
            parameters=self.parameters or None,
            manufacturer=MANUFACTURER,
        )

    def device_uid(self) -> str:
        """A UID for the algorithm as a device observer, the same for the same model id and version."""
        return str(generate_uid(entropy_srcs=["januscxr", self.model_id, self.version]))


def coded(code: FindingCode) -> CodedConcept:
    return CodedConcept(value=code.value, scheme_designator=code.scheme, meaning=code.meaning)


def ai_result_sr(
    source: Dataset,
    results: Sequence[FindingResult],
    algorithm: Algorithm,
    *,
    instance: NewInstance | None = None,
    institution_name: str | None = None,
) -> Comprehensive3DSR:
    """A TID 1500 Measurement Report of ``results`` on the image ``source`` (its header suffices).

    Parameters
    ----------
    source
        The image read (pydicom dataset, pixels not needed): the SR references it and copies its
        patient and study attributes.
    results
        One result per assessed finding, in the order to report them.
    algorithm
        The classifier: model id, version and weights sha256.
    instance
        The new series and instance identifiers (default: fresh UIDs, series number 9901).

    Raises
    ------
    DicomEncodingError
        The source lacks a UID, or a text value cannot be encoded (the message names it).
    """
    instance = instance or NewInstance(series_number=AI_SR_SERIES_NUMBER)
    evidence = evidence_dataset(source)
    device = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=algorithm.device_uid(),
            name=algorithm.model_id,
            manufacturer_name=MANUFACTURER,
            model_name=algorithm.model_id,
        ),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=device),
        procedure_reported=CHEST_IMAGING,
        imaging_measurements=[_finding_group(evidence, result, algorithm) for result in results],
    )
    return Comprehensive3DSR(
        evidence=[evidence],
        content=report,
        series_instance_uid=instance.series_uid(),
        series_number=instance.series_number,
        sop_instance_uid=instance.sop_uid(),
        instance_number=instance.instance_number,
        manufacturer=MANUFACTURER,
        is_complete=True,
        institution_name=None if institution_name is None else checked_line(institution_name, field="institution name"),
        series_description=AI_SR_SERIES_DESCRIPTION,
        software_versions=SOFTWARE_VERSION,
        specific_character_set=SPECIFIC_CHARACTER_SET,
        coding_schemes=local_coding_schemes([r.finding for r in results]),
    )


def _finding_group(
    evidence: Dataset, result: FindingResult, algorithm: Algorithm
) -> MeasurementsAndQualitativeEvaluations:
    """TID 1501 for one finding: its presence, probability and threshold, on the source image."""
    identification = algorithm.identification()
    presence = Presence.of(result)
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=result.finding.value),
        finding_type=coded(result.finding.code),
        algorithm_id=identification,
        measurements=[
            Measurement(name=PROBABILITY, value=result.probability, unit=NO_UNITS),
            Measurement(name=THRESHOLD, value=result.threshold, unit=NO_UNITS),
        ],
        qualitative_evaluations=[QualitativeEvaluation(name=PRESENCE, value=coded(presence.code))],
        source_images=[
            SourceImageForMeasurementGroup(
                referenced_sop_class_uid=evidence.SOPClassUID,
                referenced_sop_instance_uid=evidence.SOPInstanceUID,
            )
        ],
    )


def local_coding_schemes(findings: Sequence[Finding]) -> list[hd.coding_schemes.CodingSchemeIdentificationItem] | None:
    """Coding Scheme Identification of januscxr's local scheme, when one of ``findings`` uses it."""
    if not any(f.code.scheme == LOCAL_CODING_SCHEME for f in findings):
        return None
    return [
        hd.coding_schemes.CodingSchemeIdentificationItem(
            designator=LOCAL_CODING_SCHEME,
            name="januscxr findings without a confirmed SNOMED CT, DICOM or RadLex concept",
            responsible_organization=MANUFACTURER,
        )
    ]
