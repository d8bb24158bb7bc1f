"""Heatmaps as DICOM Secondary Capture images: the overlay burnt into the radiograph, labelled as not diagnostic.

One image per flagged finding, all in one new series of the source study. The warning is in the
pixels (a PACS viewer shows it whatever it displays of the header) and in Series Description, and
Burned In Annotation is YES, so that de-identification and viewers treat the pixels as carrying text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from highdicom import UID
from highdicom.sc import SCImage
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from pydicom.dataset import Dataset

from januscxr.errors import DicomEncodingError
from januscxr.interop.ai_sr import Algorithm
from januscxr.interop.encoding import SPECIFIC_CHARACTER_SET
from januscxr.interop.source import HEATMAP_SERIES_NUMBER, MANUFACTURER, SOFTWARE_VERSION, NewInstance, evidence_dataset
from januscxr.io.overlay import heatmap_overlay
from januscxr.records import probability_texts
from januscxr.types import FindingResult, FloatArray

HEATMAP_WARNING = "AI heatmap - not for diagnostic use"
HEATMAP_SERIES_DESCRIPTION = HEATMAP_WARNING
_BANNER = (0, 0, 0)
_TEXT = (255, 255, 0)


def heatmap_captures(
    source: Dataset,
    pixels: FloatArray,
    results: Sequence[FindingResult],
    algorithm: Algorithm,
    *,
    series_instance_uid: str | None = None,
    series_number: int = HEATMAP_SERIES_NUMBER,
) -> list[SCImage]:
    """One capture per flagged result with a heatmap, numbered 1, 2, ... in one new series."""
    series = NewInstance(series_instance_uid=series_instance_uid, series_number=series_number).series_uid()
    flagged = [r for r in results if r.flagged and r.heatmap is not None]
    return [
        heatmap_capture(
            source,
            pixels,
            result,
            algorithm,
            instance=NewInstance(series_instance_uid=series, series_number=series_number, instance_number=number),
        )
        for number, result in enumerate(flagged, start=1)
    ]


def heatmap_capture(
    source: Dataset,
    pixels: FloatArray,
    result: FindingResult,
    algorithm: Algorithm,
    *,
    instance: NewInstance | None = None,
) -> SCImage:
    """A Secondary Capture of ``result``'s heatmap over ``pixels`` (H, W) in [0, 1], the image as read.

    Raises
    ------
    DicomEncodingError
        ``result`` has no heatmap, or the source lacks a UID the capture must reference.
    """
    if result.heatmap is None:
        raise DicomEncodingError(f"heatmap of {result.finding.value}: none; expected a heatmap for a flagged finding")
    instance = instance or NewInstance(series_number=HEATMAP_SERIES_NUMBER)
    evidence = evidence_dataset(source)
    rgb = burn_in_caption(heatmap_overlay(pixels, result.heatmap), caption_lines(result, algorithm))
    orientation = evidence.get("PatientOrientation")
    known = bool(orientation) and len(orientation) == 2 and all(orientation)
    capture = SCImage(
        pixel_array=np.asarray(rgb, dtype=np.uint8),  # (H, W, 3)
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=evidence.StudyInstanceUID,
        series_instance_uid=instance.series_uid(),
        series_number=instance.series_number,
        sop_instance_uid=instance.sop_uid(),
        instance_number=instance.instance_number,
        manufacturer=MANUFACTURER,
        patient_id=evidence.PatientID,
        patient_name=evidence.PatientName,
        patient_birth_date=evidence.PatientBirthDate,
        patient_sex=evidence.PatientSex or None,
        accession_number=evidence.AccessionNumber,
        study_id=evidence.StudyID,
        study_date=evidence.StudyDate or None,
        study_time=evidence.StudyTime or None,
        referring_physician_name=evidence.ReferringPhysicianName,
        # highdicom wants a valid pair; an unknown orientation is written empty below (Type 2)
        patient_orientation=tuple(orientation) if known else ("L", "F"),
        series_description=HEATMAP_SERIES_DESCRIPTION,
        software_versions=SOFTWARE_VERSION,
        specific_character_set=SPECIFIC_CHARACTER_SET,
    )
    if not known:
        capture["PatientOrientation"].value = None  # unknown in the source: empty, never guessed
    capture.BurnedInAnnotation = "YES"
    capture.BodyPartExamined = evidence.get("BodyPartExamined") or "CHEST"  # unpaired: no Laterality needed
    if evidence.get("Laterality"):
        capture.Laterality = evidence.Laterality
    capture.ImageComments = f"{result.finding.value}: {HEATMAP_WARNING}"
    capture.DerivationDescription = (
        f"Class activation map of {algorithm.model_id} {algorithm.version} over the source image"
    )
    capture.SourceImageSequence = [_reference(evidence)]
    return capture


def caption_lines(result: FindingResult, algorithm: Algorithm) -> list[str]:
    probability, threshold = probability_texts(result.probability, result.threshold)
    return [
        HEATMAP_WARNING,
        f"{result.finding.value}: probability {probability} (threshold {threshold})",
        f"{algorithm.model_id} {algorithm.version}",
    ]


def burn_in_caption(image: PILImage.Image, lines: Sequence[str]) -> PILImage.Image:
    """``image`` under a black banner holding ``lines`` in yellow: added above it, so no pixel of the film is hidden."""
    font = ImageFont.load_default(size=max(10, image.width // 40))
    line_height = int(font.getbbox("Ag")[3]) + 4
    banner_height = line_height * len(lines) + 8
    captioned = PILImage.new("RGB", (image.width, image.height + banner_height), _BANNER)
    captioned.paste(image.convert("RGB"), (0, banner_height))
    draw = ImageDraw.Draw(captioned)
    for row, line in enumerate(lines):
        draw.text((6, 4 + row * line_height), line, fill=_TEXT, font=font)
    return captioned


def _reference(evidence: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = UID(evidence.SOPClassUID)
    item.ReferencedSOPInstanceUID = UID(evidence.SOPInstanceUID)
    return item
