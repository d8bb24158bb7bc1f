"""De-identification for a research export: PS3.15's Basic Application Level Confidentiality Profile.

One :class:`Deidentifier` per export holds a random secret that is never written: pseudonyms,
replacement UIDs and each patient's date offset are keyed hashes of the original values, so the
same original gives the same replacement throughout an export (a study's images stay one study,
a patient's studies stay one patient) and nobody without the secret can reverse them.
:func:`deidentify_dataset` applies the profile's action table
(:mod:`~januscxr.interop.confidentiality_profile`) to a DICOM dataset, in place.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import date, datetime, timedelta

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from januscxr.interop.confidentiality_profile import KEPT_TEXT, PROFILE, Action
from januscxr.interop.redaction import known_identifiers

# A patient's dates move back by a whole number of days in this range: times of day, weekdays
# modulo 7 aside, the order of a patient's studies and the intervals between them stay as they were.
MIN_SHIFT_DAYS, MAX_SHIFT_DAYS = 30, 3650

BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
MODIFIED_DATES_OPTION = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")

PRESUMED_BURNED_IN = "PRESUMED"
SECONDARY_CAPTURE_CLASSES = frozenset(  # Secondary Capture, and its multi-frame single bit to true colour kinds
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
_SCREEN_WORDS = ("SCREEN", "REPORT")

_DATE_VRS = frozenset({"DA", "DT", "TM"})
_TEXT_VRS = frozenset({"AE", "AS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"})
_DUMMY = {"PN": "ANONYMOUS^", "DA": "19000101", "TM": "000000", "DT": "19000101000000"}
_IDENTIFYING = {  # header values whose appearance in the report text is replaced (redaction.redact_text)
    "PatientID": "[PATIENT ID]",
    "OtherPatientIDs": "[PATIENT ID]",
    "AccessionNumber": "[ACCESSION]",
    "StudyID": "[ID]",
    "InstitutionName": "[INSTITUTION]",
    "InstitutionAddress": "[ADDRESS]",
    "PatientAddress": "[ADDRESS]",
    "PatientTelephoneNumbers": "[PHONE]",
}


class Deidentifier:
    """Consistent replacements for one export, from a secret that lives only in this object.

    Parameters
    ----------
    shift_dates
        Move each patient's dates back by a secret number of days (the profile's Retain
        Longitudinal Temporal Information with Modified Dates option); otherwise dates are
        removed or emptied as the profile's table says.
    secret
        For tests only: a fixed key. By default 32 random bytes, never written anywhere.
    """

    def __init__(self, *, shift_dates: bool = False, secret: bytes | None = None) -> None:
        self.shift_dates = shift_dates
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._mapping: dict[tuple[str, str], str] = {}

    def patient_id(self, original: str) -> str:
        """The patient's pseudonym, ``P`` and 12 hexadecimal digits."""
        return self._remember("patient", original, "P" + self._digest("patient", original).hex()[:12].upper())

    def study_id(self, original: str) -> str:
        """The study's pseudonym (of its Study Instance UID), ``S`` and 12 hexadecimal digits (fits DICOM SH)."""
        return self._remember("study", original, "S" + self._digest("study", original).hex()[:12].upper())

    def reader(self, name: str) -> str:
        """A signing radiologist's pseudonym: the same reader keeps one through the export."""
        return self._remember("reader", name, "READER-" + self._digest("reader", name).hex()[:8].upper())

    def uid(self, original: str) -> str:
        """A ``2.25`` UID derived from ``original``; well-known UIDs (SOP classes, transfer syntaxes) stay."""
        original = original.strip().rstrip("\x00")
        if not original or UID(original).name != original:
            return original
        derived = uuid.UUID(bytes=self._digest("uid", original)[:16], version=4)
        return self._remember("uid", original, f"2.25.{derived.int}")

    def date_offset(self, patient_key: str) -> timedelta:
        """The patient's secret shift: back by MIN_SHIFT_DAYS to MAX_SHIFT_DAYS days."""
        span = MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1
        days = MIN_SHIFT_DAYS + int.from_bytes(self._digest("date", patient_key)[:8], "big") % span
        return timedelta(days=-days)

    def shift(self, when: date | datetime, patient_key: str) -> date | datetime:
        return when + self.date_offset(patient_key)

    def key_entries(self) -> list[tuple[str, str, str]]:
        """(kind, original, replacement) for every pseudonym and UID given out; date offsets are never listed."""
        return [(kind, original, new) for (kind, original), new in sorted(self._mapping.items())]

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._secret, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()

    def _remember(self, kind: str, original: str, new: str) -> str:
        self._mapping[(kind, original)] = new
        return new


def deidentify_dataset(dataset: Dataset, deidentifier: Deidentifier, *, patient_key: str, study_key: str) -> Dataset:
    """Apply the Basic Application Level Confidentiality Profile to ``dataset`` in place, and return it.

    Private attributes, overlays and curves are removed; the table's attributes get its action;
    attributes it does not list are kept when numeric or coded, replaced when UIDs, and removed
    when names, dates (or shifted, with ``shift_dates``) or free text. Patient ID, Patient's Name and
    Study ID become the pseudonyms of ``patient_key`` and ``study_key`` (the original Patient ID
    and Study Instance UID). Patient Identity Removed, the De-identification Method (Code Sequence)
    and Longitudinal Temporal Information Modified record what was done; the preamble is zeroed.
    """
    _Cleaner(deidentifier, patient_key=patient_key, study_key=study_key).clean(dataset)
    dataset.PatientIdentityRemoved = "YES"
    options = [BASIC_PROFILE, MODIFIED_DATES_OPTION] if deidentifier.shift_dates else [BASIC_PROFILE]
    dataset.DeidentificationMethod = "januscxr: PS3.15 Basic Profile" + (
        ", Modified Dates" if deidentifier.shift_dates else ""
    )
    dataset.DeidentificationMethodCodeSequence = Sequence([_code(value, meaning) for value, meaning in options])
    dataset.LongitudinalTemporalInformationModified = "MODIFIED" if deidentifier.shift_dates else "REMOVED"
    dataset.file_meta = _file_meta(dataset)
    dataset.preamble = bytes(128)  # a preamble may hold another format's header (TIFF), with its own identifiers
    return dataset


def burned_in_annotation(dataset: Dataset) -> str:
    """The image's Burned In Annotation: ``YES``, ``NO``, ``PRESUMED``, or ``""`` when the header does not say.

    ``PRESUMED``: the attribute is missing but the image is a Secondary Capture or its Image Type
    says SCREEN or REPORT, images that are text drawn on pixels more often than not.
    """
    stated = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    if stated:
        return stated
    image_type = dataset.get("ImageType") or []
    kinds = " ".join(str(v) for v in (image_type if isinstance(image_type, MultiValue) else [image_type])).upper()
    is_capture = str(dataset.get("SOPClassUID", "")) in SECONDARY_CAPTURE_CLASSES
    return PRESUMED_BURNED_IN if is_capture or any(word in kinds for word in _SCREEN_WORDS) else ""


def identifying_values(dataset: Dataset) -> dict[str, str]:
    """Values of the header that identify someone, each with the placeholder that replaces it in report text."""
    found: dict[str, str] = {}

    def visit(ds: Dataset, element: DataElement) -> None:
        values = element.value if element.VM > 1 else [element.value]
        if element.VR == "PN":
            found.update(known_identifiers(names=[str(v) for v in values if v is not None]))
        elif (placeholder := _IDENTIFYING.get(element.keyword)) is not None:
            found.update({str(v).strip(): placeholder for v in values if v is not None and str(v).strip()})

    dataset.walk(visit)
    return found


class _Cleaner:
    def __init__(self, deidentifier: Deidentifier, *, patient_key: str, study_key: str) -> None:
        self.deid = deidentifier
        self.patient_key = patient_key
        self.pseudonyms = {
            "PatientID": deidentifier.patient_id(patient_key),
            "PatientName": deidentifier.patient_id(patient_key) + "^",
            "StudyID": deidentifier.study_id(study_key),
        }

    def clean(self, dataset: Dataset) -> None:
        for element in list(dataset):
            if _is_removed_outright(element):
                del dataset[element.tag]
                continue
            action = PROFILE.get(element.keyword) or _action_by_vr(element)
            self._apply(dataset, element, action)

    def _apply(self, dataset: Dataset, element: DataElement, action: Action) -> None:
        if element.VR in _DATE_VRS and action is not Action.K:
            self._date(dataset, element, action)
        elif action is Action.X:
            del dataset[element.tag]
        elif action is Action.U:
            values = [self.deid.uid(str(v)) for v in (element.value if element.VM > 1 else [element.value or ""])]
            element.value = values if len(values) > 1 else values[0]
        elif action is Action.Z:
            element.value = Sequence() if element.VR == "SQ" else self.pseudonyms.get(element.keyword, "")
        elif action is Action.D:
            element.value = _DUMMY.get(element.VR, "ANONYMOUS")
        elif element.VR == "SQ":  # K or C: the items are cleaned like the dataset itself
            for item in element.value:
                self.clean(item)

    def _date(self, dataset: Dataset, element: DataElement, action: Action) -> None:
        if self.deid.shift_dates and element.keyword != "PatientBirthDate" and element.value:
            if element.VR == "TM":  # whole-day shifts leave the time of day as it was
                return
            shifted = [self._shift(str(v), element.VR) for v in (element.value if element.VM > 1 else [element.value])]
            if all(shifted):
                element.value = shifted if len(shifted) > 1 else shifted[0]
                return
            action = Action.X  # a value that is not a date cannot be shifted: it goes
        if action is Action.X:
            del dataset[element.tag]
        else:
            element.value = _DUMMY[element.VR] if action is Action.D else ""

    def _shift(self, value: str, vr: str) -> str | None:
        text = value.strip()
        try:
            day = datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            return None
        if vr == "DA" and len(text) != 8:
            return None
        return self.deid.shift(day, self.patient_key).strftime("%Y%m%d") + text[8:]


def _is_removed_outright(element: DataElement) -> bool:
    """Private attributes, group lengths, curves (50xx), overlays (60xx) and attributes no dictionary names."""
    tag = element.tag
    return (
        tag.is_private
        or tag.element == 0
        or 0x5000 <= tag.group <= 0x50FF
        or 0x6000 <= tag.group <= 0x60FF
        or not element.keyword
    )


def _action_by_vr(element: DataElement) -> Action:
    """What to do with an attribute the table does not list."""
    if element.keyword in KEPT_TEXT or element.VR == "SQ":
        return Action.K
    if element.VR == "UI":
        return Action.U
    if element.VR in _DATE_VRS or element.VR in _TEXT_VRS:
        return Action.X
    return Action.K


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _file_meta(dataset: Dataset) -> FileMetaDataset:
    """A fresh File Meta Information: the old one may name the sending application and its station."""
    old = getattr(dataset, "file_meta", None)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    syntax = old.get("TransferSyntaxUID") if old is not None else None
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    return meta
