"""DICOM chest radiographs through pydicom 3 and the pylibjpeg decoders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from januscxr.errors import ImageReadError, WrongBodyPartError, WrongModalityError
from januscxr.io.attributes import (
    dicom_header,
    dicom_text,
    guarded_text,
    guarded_value,
    parse_age_string,
    patient_sex,
    short_reason,
)
from januscxr.io.limits import DEFAULT_MAX_SIDE_PX
from januscxr.io.pixeldata import PixelLayout, check_pixel_data, decode_first_frame, read_layout
from januscxr.io.pixels import apply_window, auto_window, is_flat, scale_to_unit
from januscxr.types import FloatArray, Image, ImageHeader

__all__ = ["dicom_text", "parse_age_string", "patient_sex", "read_dataset", "read_dicom"]

logger = logging.getLogger(__name__)

# Projection radiography modalities; OT covers secondary captures of radiographs.
RADIOGRAPHY_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT"})
CHEST_BODY_PART_WORDS = ("CHEST", "THORAX", "THORA", "TORAX", "LUNG", "PORTABLE")
# Attributes the pixel pipeline reads, parsed up front so a malformed one is named.
_PIXEL_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsStored",
    "HighBit",
    "PlanarConfiguration",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
)
# The two byte orders of the Pixel Data tag (7FE0,0010) as it appears in a file.
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


def read_dicom(
    path: str | Path, *, max_pixels: int | None = None, max_side_px: int | None = DEFAULT_MAX_SIDE_PX
) -> Image:
    """Read a DICOM chest radiograph.

    Applies the Modality LUT (rescale slope/intercept), then the VOI LUT or window
    center/width (an automatic percentile window where none is usable), and inverts
    MONOCHROME1 so that bone is bright. Multi-frame objects yield their first frame.

    Parameters
    ----------
    path
        The file to read.
    max_pixels
        Refuse objects whose Rows x Columns x frames (or JPEG 2000 codestream) is larger, before
        decoding (default: :func:`januscxr.io.limits.current_max_pixels`, 60 megapixels).
    max_side_px
        A JPEG 2000 object larger than twice this is decoded at a lower resolution level, never
        below this long side (``pixel_spacing_mm`` follows); None decodes in full.

    Raises
    ------
    ImageReadError
        The file is not DICOM, is truncated, a header attribute is malformed, or its pixel data
        does not match its header or cannot be decoded.
    ImageTooLargeError
        The image has more than ``max_pixels`` pixels.
    WrongModalityError, WrongBodyPartError
        The object is not a chest radiograph.
    """
    path = Path(path)
    dataset = read_dataset(path)
    header = dicom_header(dataset, path)
    _check_chest_radiograph(dataset, header, path)
    layout = read_layout(dataset, path)
    check_pixel_data(dataset, path, layout, max_pixels=max_pixels)
    pixels, levels = _decode_pixels(dataset, path, layout, max_side_px=max_side_px, max_pixels=max_pixels)
    laterality = guarded_text(dataset, "ImageLaterality", path) or guarded_text(dataset, "Laterality", path)
    return Image(
        pixels=pixels,
        source=str(path),
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        sop_instance_uid=header.sop_instance_uid,
        view_position=header.view_position,
        image_laterality=laterality,
        patient_age_years=header.patient_age_years,
        patient_sex=header.patient_sex,
        pixel_spacing_mm=_pixel_spacing(dataset, path, scale=float(1 << levels)),
        modality=header.modality,
        body_part_examined=header.body_part_examined,
        column_toward_patient_left=_column_toward_patient_left(dataset, path),
    )


def read_dataset(path: str | Path, *, stop_before_pixels: bool = False) -> Dataset:
    """``pydicom.dcmread`` with its many failure types turned into one ImageReadError naming the file."""
    path = Path(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as error:
        raise ImageReadError(f"{path}: not a DICOM file ({short_reason(error)})") from error
    except Exception as error:  # pydicom raises many types on truncated or corrupt files
        raise ImageReadError(f"{path}: truncated or corrupt DICOM file ({short_reason(error)})") from error


def _check_chest_radiograph(dataset: Dataset, header: ImageHeader, path: Path) -> None:
    modality = (header.modality or "").upper()
    if modality and modality not in RADIOGRAPHY_MODALITIES:
        raise WrongModalityError(f"{path}: Modality is {modality}; expected a radiograph (CR or DX)")
    body_part = (header.body_part_examined or "").upper()
    if body_part and not any(word in body_part for word in CHEST_BODY_PART_WORDS):
        raise WrongBodyPartError(f"{path}: Body Part Examined is {body_part}; expected CHEST")
    if "PixelData" not in dataset and "FloatPixelData" not in dataset:
        raise _missing_pixel_data(path)


def _missing_pixel_data(path: Path) -> ImageReadError:
    """No Pixel Data parsed: truncated inside it (pydicom stops at the end of the file) or none at all."""
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    start = max(data.rfind(tag) for tag in _PIXEL_DATA_TAGS)
    if start >= 0:
        return ImageReadError(
            f"{path}: truncated: Pixel Data starts at byte {start} and is cut off by the end of the file "
            f"({len(data)} bytes)"
        )
    return ImageReadError(f"{path}: DICOM object has no Pixel Data; expected an image")


def _decode_pixels(
    dataset: Dataset, path: Path, layout: PixelLayout, *, max_side_px: int | None, max_pixels: int | None
) -> tuple[FloatArray, int]:
    """Display-ready pixels in [0, 1] (H, W) and the number of halvings applied while decoding."""
    for keyword in _PIXEL_KEYWORDS:
        guarded_value(dataset, keyword, path)
    stored, levels = decode_first_frame(dataset, path, layout, max_side_px=max_side_px, max_pixels=max_pixels)
    photometric = (guarded_text(dataset, "PhotometricInterpretation", path) or "MONOCHROME2").upper()
    if stored.ndim == 3:  # colour secondary capture: (H, W, 3)
        stored = stored[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return scale_to_unit(stored, 0.0, float(stored.max()) or 1.0), levels
    try:
        values = apply_modality_lut(stored, dataset)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as error:  # a LUT that does not fit
        raise ImageReadError(f"{path}: Modality LUT cannot be applied ({short_reason(error)})") from error
    pixels = _apply_window(values, dataset)
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
    return pixels.astype(np.float32, copy=False), levels


def _apply_window(values: np.ndarray, dataset: Dataset) -> FloatArray:
    try:
        pixels = _apply_voi(values, dataset)
    except Exception as error:  # malformed VOI attributes: fall back, do not fail
        logger.debug("unusable VOI attributes (%s); using an automatic window", error)
        pixels = None
    if pixels is None or not np.isfinite(pixels).all() or is_flat(pixels):
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


def _pixel_spacing(dataset: Dataset, path: Path, *, scale: float = 1.0) -> tuple[float, float] | None:
    """Pixel Spacing (else Imager Pixel Spacing) in mm, times ``scale`` for a reduced decode."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = guarded_value(dataset, keyword, path)
        try:
            if value is not None and len(value) == 2:  # type: ignore[arg-type]
                spacing = (float(value[0]) * scale, float(value[1]) * scale)  # type: ignore[index]
                if all(np.isfinite(spacing)):
                    return spacing
        except (TypeError, ValueError, OverflowError):
            continue
    return None


def _column_toward_patient_left(dataset: Dataset, path: Path) -> bool:
    orientation = guarded_value(dataset, "PatientOrientation", path)
    try:
        row_direction = str(orientation[0]).strip().upper() if orientation else ""  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        row_direction = ""
    return not row_direction.startswith("R")
