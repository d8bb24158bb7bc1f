"""Who and what a study is, in the form radiologists read it: the worklist line, the study page
header and the printed report's header all come from here."""

from __future__ import annotations

from januscxr.server.schemas import StudyHeaderPublic
from januscxr.storage.tables import Study


def person_name(value: str | None) -> str | None:
    """A DICOM Person Name for reading: ``DOE^JANE^M^^`` is ``DOE, JANE M``."""
    if not value:
        return None
    family, _, rest = value.partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    return f"{family}, {given}" if family and given else (family or given or None)


def study_date(value: str | None) -> str | None:
    """A DICOM DA (``20240131``) as ``2024-01-31``; anything else as it came."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


def study_header(study: Study) -> StudyHeaderPublic:
    return StudyHeaderPublic(
        patient_name=person_name(study.patient_name),
        patient_id=study.patient_id,
        patient_sex=study.patient_sex,
        patient_age_years=study.patient_age_years,
        study_date=study_date(study.study_date),
        accession_number=study.accession_number,
        study_description=study.study_description,
    )
