"""A file's header without its pixels: the one place that reads identifiers for ingest and the CLI.

pydicom parses element values lazily, so a malformed element (an unknown VR, a length past the
end of the file) raises only when it is read. Every value is read here, inside one guard, and a
failure becomes an :class:`~januscxr.errors.ImageReadError` naming the file and the attribute.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage
from pydicom.dataset import Dataset

from januscxr.errors import ImageReadError
from januscxr.io.dicom import dicom_text, parse_age_string, patient_sex, read_dataset
from januscxr.io.reader import sniff_format
from januscxr.types import ImageHeader, ViewPosition

_TEXT_KEYWORDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "AccessionNumber",
    "PatientID",
    "PatientName",
    "PatientSex",
    "PatientAge",
    "StudyDate",
    "StudyDescription",
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
)


def read_header(path: str | Path) -> ImageHeader:
    """Read the header of a DICOM, PNG or JPEG file (recognised by content), not its pixels.

    Raises
    ------
    ImageReadError
        Missing, unreadable or unrecognised file, or a header element that cannot be parsed.
    """
    path = Path(path)
    kind = sniff_format(path)
    if kind != "dicom":
        return _raster_header(path, kind)
    dataset = read_dataset(path, stop_before_pixels=True)
    return dicom_header(dataset, path)


def dicom_header(dataset: Dataset, path: Path) -> ImageHeader:
    """The :class:`ImageHeader` of an already opened dataset; raises ImageReadError on a bad element."""
    values = {keyword: _guarded_text(dataset, keyword, path) for keyword in _TEXT_KEYWORDS}
    rows, columns = _guarded_int(dataset, "Rows", path), _guarded_int(dataset, "Columns", path)
    return ImageHeader(
        source=str(path),
        format="dicom",
        rows=rows,
        columns=columns,
        study_instance_uid=values["StudyInstanceUID"],
        series_instance_uid=values["SeriesInstanceUID"],
        sop_instance_uid=values["SOPInstanceUID"],
        accession_number=values["AccessionNumber"],
        patient_id=values["PatientID"],
        patient_name=values["PatientName"],
        patient_sex=patient_sex(values["PatientSex"]),
        patient_age_years=parse_age_string(values["PatientAge"]),
        study_date=values["StudyDate"],
        study_description=values["StudyDescription"],
        modality=values["Modality"],
        body_part_examined=values["BodyPartExamined"],
        view_position=ViewPosition.from_dicom(values["ViewPosition"]),
    )


def _guarded_text(dataset: Dataset, keyword: str, path: Path) -> str | None:
    try:
        return dicom_text(dataset, keyword)
    except Exception as error:  # pydicom raises many types for one malformed element
        raise ImageReadError(f"{path}: DICOM attribute {keyword} cannot be parsed ({_short(error)})") from error


def _guarded_int(dataset: Dataset, keyword: str, path: Path) -> int | None:
    try:
        value = dataset.get(keyword)
        return None if value in (None, "") else int(value)
    except Exception as error:  # a malformed US value, or one of the wrong VR
        raise ImageReadError(f"{path}: DICOM attribute {keyword} cannot be parsed ({_short(error)})") from error


def _raster_header(path: Path, kind: str) -> ImageHeader:
    try:
        with PILImage.open(path) as opened:  # reads the header only
            columns, rows = opened.size
    except Exception as error:  # Pillow raises many types on a damaged header
        raise ImageReadError(f"{path}: truncated or corrupt {kind.upper()} header ({_short(error)})") from error
    return ImageHeader(source=str(path), format=kind, rows=rows, columns=columns)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."
