"""DICOM chest radiographs through pydicom 3 and the pylibjpeg decoders."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut
from pydicom.pixels.utils import pixel_array

from januscxr.errors import ImageReadError, WrongBodyPartError, WrongModalityError
from januscxr.io.pixels import apply_window, auto_window, is_flat, scale_to_unit
from januscxr.types import FloatArray, Image, PatientSex, ViewPosition

logger = logging.getLogger(__name__)

# Projection radiography modalities; OT covers secondary captures of radiographs.
RADIOGRAPHY_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT"})
CHEST_BODY_PART_WORDS = ("CHEST", "THORAX", "THORA", "TORAX", "LUNG", "PORTABLE")


def read_dicom(path: str | Path) -> Image:
    """Read a DICOM chest radiograph.

    Applies the Modality LUT (rescale slope/intercept), then the VOI LUT or window
    center/width (an automatic percentile window where none is usable), and inverts
    MONOCHROME1 so that bone is bright. Multi-frame objects yield their first frame.

    Raises
    ------
    ImageReadError
        The file is not DICOM, is truncated, or its pixel data cannot be decoded.
    WrongModalityError, WrongBodyPartError
        The object is not a chest radiograph.
    """
    path = Path(path)
    dataset = read_dataset(path)
    _check_chest_radiograph(dataset, path)
    pixels = _decode_pixels(dataset, path)
    return Image(
        pixels=pixels,
        source=str(path),
        study_instance_uid=dicom_text(dataset, "StudyInstanceUID"),
        series_instance_uid=dicom_text(dataset, "SeriesInstanceUID"),
        sop_instance_uid=dicom_text(dataset, "SOPInstanceUID"),
        view_position=ViewPosition.from_dicom(dicom_text(dataset, "ViewPosition")),
        image_laterality=dicom_text(dataset, "ImageLaterality") or dicom_text(dataset, "Laterality"),
        patient_age_years=parse_age_string(dicom_text(dataset, "PatientAge")),
        patient_sex=patient_sex(dicom_text(dataset, "PatientSex")),
        pixel_spacing_mm=_pixel_spacing(dataset),
        modality=dicom_text(dataset, "Modality"),
        body_part_examined=dicom_text(dataset, "BodyPartExamined"),
        column_toward_patient_left=_column_toward_patient_left(dataset),
    )


def read_dataset(path: str | Path, *, stop_before_pixels: bool = False) -> Dataset:
    """``pydicom.dcmread`` with its many failure types turned into one ImageReadError naming the file."""
    path = Path(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as error:
        raise ImageReadError(f"{path}: not a DICOM file ({error})") from error
    except Exception as error:  # pydicom raises many types on truncated or corrupt files
        raise ImageReadError(f"{path}: truncated or corrupt DICOM file ({error})") from error


def _check_chest_radiograph(dataset: Dataset, path: Path) -> None:
    modality = (dicom_text(dataset, "Modality") or "").upper()
    if modality and modality not in RADIOGRAPHY_MODALITIES:
        raise WrongModalityError(f"{path}: Modality is {modality}; expected a radiograph (CR or DX)")
    body_part = (dicom_text(dataset, "BodyPartExamined") or "").upper()
    if body_part and not any(word in body_part for word in CHEST_BODY_PART_WORDS):
        raise WrongBodyPartError(f"{path}: Body Part Examined is {body_part}; expected CHEST")
    if "PixelData" not in dataset and "FloatPixelData" not in dataset:
        raise ImageReadError(f"{path}: DICOM object has no Pixel Data; expected an image")


def _decode_pixels(dataset: Dataset, path: Path) -> FloatArray:
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        warnings.warn(f"{path}: {frames} frames; reading the first", stacklevel=3)
    try:
        stored = pixel_array(dataset, index=0) if frames > 1 else dataset.pixel_array
    except Exception as error:  # decoder plugins raise many types on damaged pixel data
        raise ImageReadError(f"{path}: cannot decode Pixel Data ({error})") from error
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if stored.ndim == 3:  # colour secondary capture: (H, W, 3)
        stored = stored[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return scale_to_unit(stored, 0.0, float(stored.max()) or 1.0)
    if stored.ndim != 2:
        raise ImageReadError(f"{path}: Pixel Data has shape {stored.shape}; expected rows x columns")
    values = apply_modality_lut(stored, dataset)
    pixels = _apply_window(values, dataset)
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
    return pixels.astype(np.float32, copy=False)


def _apply_window(values: np.ndarray, dataset: Dataset) -> FloatArray:
    try:
        pixels = _apply_voi(values, dataset)
    except Exception as error:  # malformed VOI attributes: fall back, do not fail
        logger.debug("unusable VOI attributes (%s); using an automatic window", error)
        pixels = None
    if pixels is None or is_flat(pixels):
        return auto_window(values)
    return pixels


def _apply_voi(values: np.ndarray, dataset: Dataset) -> FloatArray | None:
    """The first VOI LUT, else the first window center/width; None when there is neither."""
    if "VOILUTSequence" in dataset:
        table = apply_voi_lut(values, dataset, index=0, prefer_lut=True)
        return scale_to_unit(table, float(table.min()), float(table.max()))
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        center, width = dataset.WindowCenter, dataset.WindowWidth
        center = float(center[0] if isinstance(center, MultiValue) else center)
        width = float(width[0] if isinstance(width, MultiValue) else width)
        function = str(dataset.get("VOILUTFunction", "LINEAR") or "LINEAR")
        return apply_window(values, center, width, function)
    return None


def dicom_text(dataset: Dataset, keyword: str) -> str | None:
    """An attribute as stripped text (multi-values joined by backslash); None when absent or empty."""
    value = dataset.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue):
        value = "\\".join(str(v) for v in value)
    return str(value).strip() or None


def parse_age_string(value: str | None) -> float | None:
    """DICOM Age String ("045Y", "006M", "010W", "003D") in years."""
    if not value or len(value) < 2 or not value[:-1].strip().isdigit():
        return None
    number, unit = int(value[:-1]), value[-1].upper()
    per_year = {"Y": 1.0, "M": 12.0, "W": 52.1775, "D": 365.25}.get(unit)
    return round(number / per_year, 3) if per_year else None


def patient_sex(value: str | None) -> PatientSex:
    code = (value or "").strip().upper()
    return PatientSex(code) if code in {"M", "F", "O"} else PatientSex.UNKNOWN


def _pixel_spacing(dataset: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = dataset.get(keyword)
        try:
            if value is not None and len(value) == 2:
                return (float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            continue
    return None


def _column_toward_patient_left(dataset: Dataset) -> bool:
    orientation = dataset.get("PatientOrientation")
    try:
        row_direction = str(orientation[0]).strip().upper() if orientation else ""
    except (TypeError, IndexError):
        row_direction = ""
    return not row_direction.startswith("R")
