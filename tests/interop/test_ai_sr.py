"""TID 1500 AI result SR: written, read back with pydicom and highdicom, validated by dciodvfy."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from januscxr.interop import Algorithm, DicomEncodingError, NewInstance, Presence, ai_result_sr
from januscxr.labels import Finding
from januscxr.types import FindingResult, FloatArray
from tests.interop.conftest import dciodvfy

SHA = "da489df108de03d639bbe64d831bf1286fafe5695445429d202d31fd5f65ab8d"
ALGORITHM = Algorithm("cxrnet-res128-kermany-nih", "2026.11.27", SHA)
RESULTS = [
    FindingResult(Finding.PNEUMOTHORAX, probability=0.81, threshold=0.3, urgent_threshold=0.6),  # present
    FindingResult(Finding.PLEURAL_EFFUSION, probability=0.41, threshold=0.3),  # possible: flagged, under 0.5
    FindingResult(Finding.LUNG_LESION, probability=0.05, threshold=0.2),  # absent, local code
    FindingResult(Finding.CARDIOMEGALY, probability=0.2999, threshold=0.3),  # absent, just under
]


def text_values(item: Dataset, concept: str) -> list[str]:
    """TEXT values named ``concept`` (a code value) anywhere under ``item``."""
    found = []
    for child in item.get("ContentSequence", []):
        if child.ValueType == "TEXT" and child.ConceptNameCodeSequence[0].CodeValue == concept:
            found.append(child.TextValue)
        found += text_values(child, concept)
    return found


def test_ai_sr_round_trip(source: tuple[Dataset, FloatArray], tmp_path: Path) -> None:
    header, _ = source
    sr = ai_result_sr(header, RESULTS, ALGORITHM)
    messages = dciodvfy(sr, tmp_path / "ai.dcm")
    back = pydicom.dcmread(tmp_path / "ai.dcm")

    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR Storage
    assert back.StudyInstanceUID == header.StudyInstanceUID
    assert back.SeriesInstanceUID != header.SeriesInstanceUID
    assert back.Modality == "SR" and back.SeriesNumber == 9901
    assert back.PatientID == header.get("PatientID", "") and back.CompletionFlag == "COMPLETE"
    assert back.SpecificCharacterSet == "ISO_IR 192"
    evidence = back.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID

    report = hd.sr.MeasurementReport.from_sequence([back])
    groups = report.get_image_measurement_groups()
    assert [g.finding_type.value for g in groups] == [r.finding.code.value for r in RESULTS]
    for group, result in zip(groups, RESULTS, strict=True):
        assert group.tracking_identifier == result.finding.value
        assert group.finding_type.scheme_designator == result.finding.code.scheme
        (probability,) = group.get_measurements(name=codes.DCM.Probability)
        (threshold,) = group.get_measurements(name=codes.DCM.ThresholdValue)
        assert probability.value == pytest.approx(result.probability)
        assert threshold.value == pytest.approx(result.threshold)
        assert probability.unit.value == "1"
        (presence,) = group.get_qualitative_evaluations()
        assert presence.value.value == Presence.of(result).code.value
        (image,) = group.source_images
        assert image.referenced_sop_instance_uid == header.SOPInstanceUID
        assert image.referenced_sop_class_uid == header.SOPClassUID
        assert text_values(group[0], "111001") == [ALGORITHM.model_id]  # Algorithm Name
        assert text_values(group[0], "111003") == [ALGORITHM.version]  # Algorithm Version
        assert text_values(group[0], "111002") == [f"weights sha256 {SHA[:12]}"]  # Algorithm Parameters
    assert [Presence.of(r) for r in RESULTS] == [Presence.PRESENT, Presence.POSSIBLE, Presence.ABSENT, Presence.ABSENT]
    assert back.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99JANUSCXR"
    print("\n".join(messages))


def test_ai_sr_keeps_given_identifiers(source: tuple[Dataset, FloatArray]) -> None:
    header, _ = source
    instance = NewInstance(series_instance_uid="1.2.826.0.1.1", sop_instance_uid="1.2.826.0.1.1.1", series_number=7)
    sr = ai_result_sr(header, RESULTS[:1], ALGORITHM, instance=instance)
    assert (sr.SeriesInstanceUID, sr.SOPInstanceUID, sr.SeriesNumber) == ("1.2.826.0.1.1", "1.2.826.0.1.1.1", 7)
    assert "CodingSchemeIdentificationSequence" not in sr  # only SNOMED CT and DICOM codes in use


def test_source_without_uid_is_named(source: tuple[Dataset, FloatArray]) -> None:
    header, _ = source
    del header.SOPInstanceUID
    with pytest.raises(DicomEncodingError, match="source image: SOPInstanceUID is missing"):
        ai_result_sr(header, RESULTS, ALGORITHM)


def test_model_id_with_control_character_is_named(source: tuple[Dataset, FloatArray]) -> None:
    header, _ = source
    with pytest.raises(DicomEncodingError, match=r"^algorithm name \(model id\): control character U\+0007"):
        ai_result_sr(header, RESULTS, Algorithm("cxrnet\x07", "1"))
