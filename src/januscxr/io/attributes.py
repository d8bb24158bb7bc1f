"""Guarded DICOM attribute access: the one place a malformed element becomes an ImageReadError.

pydicom parses element values lazily, so a malformed element (an unknown VR, a value of the
wrong length, a number that is not one) raises only when it is read, and with many exception
types (ValueError, NotImplementedError, struct.error, BytesLengthException, KeyError...). Every
value januscxr reads from a dataset goes through :func:`guarded_value`, which turns any of
them into an :class:`~januscxr.errors.ImageReadError` naming the file and the attribute.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from januscxr.errors import ImageReadError
from januscxr.types import ImageHeader, PatientSex, ViewPosition

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
    "StudyTime",
    "StudyDescription",
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
)


def guarded_value(dataset: Dataset, keyword: str, path: Path) -> object:
    """``dataset.get(keyword)``, parsed now; a malformed element raises ImageReadError naming it."""
    try:
        return dataset.get(keyword)
    except Exception as error:  # pydicom raises many types for one malformed element
        raise _attribute_error(path, keyword, error) from error


def guarded_text(dataset: Dataset, keyword: str, path: Path) -> str | None:
    """An attribute as stripped text (see :func:`dicom_text`), guarded."""
    try:
        return dicom_text(dataset, keyword)
    except Exception as error:  # pydicom raises many types for one malformed element
        raise _attribute_error(path, keyword, error) from error


def guarded_int(dataset: Dataset, keyword: str, path: Path, *, default: int | None = None) -> int | None:
    """An integer attribute (US, IS, UL...), guarded; ``default`` when absent or empty."""
    value = guarded_value(dataset, keyword, path)
    if value is None or value == "":
        return default
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError, OverflowError) as error:  # multi-valued, or not a number
        raise _attribute_error(path, keyword, error) from error


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
    """Patient's Sex (M, F, O) as an enum; anything else is UNKNOWN."""
    code = (value or "").strip().upper()
    return PatientSex(code) if code in {"M", "F", "O"} else PatientSex.UNKNOWN


def dicom_header(dataset: Dataset, path: Path) -> ImageHeader:
    """The :class:`ImageHeader` of an already opened dataset; raises ImageReadError on a bad element."""
    values = {keyword: guarded_text(dataset, keyword, path) for keyword in _TEXT_KEYWORDS}
    return ImageHeader(
        source=str(path),
        format="dicom",
        rows=guarded_int(dataset, "Rows", path),
        columns=guarded_int(dataset, "Columns", path),
        study_instance_uid=values["StudyInstanceUID"],
        series_instance_uid=values["SeriesInstanceUID"],
        sop_instance_uid=values["SOPInstanceUID"],
        accession_number=values["AccessionNumber"],
        patient_id=values["PatientID"],
        patient_name=values["PatientName"],
        patient_sex=patient_sex(values["PatientSex"]),
        patient_age_years=parse_age_string(values["PatientAge"]),
        study_date=values["StudyDate"],
        study_time=values["StudyTime"],
        study_description=values["StudyDescription"],
        modality=values["Modality"],
        body_part_examined=values["BodyPartExamined"],
        view_position=ViewPosition.from_dicom(values["ViewPosition"]),
    )


def short_reason(error: BaseException) -> str:
    """An exception as one short line, for the end of an error message."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _attribute_error(path: Path, keyword: str, error: BaseException) -> ImageReadError:
    return ImageReadError(f"{path}: DICOM attribute {keyword} cannot be parsed ({short_reason(error)})")
