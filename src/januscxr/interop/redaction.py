"""Best-effort de-identification of report text: known identifiers and date-like patterns become placeholders.

A report is free text. What can be replaced reliably is what is known (this patient's name and
IDs, the study's accession number and UID, the names of the people who signed it, identifiers
found in the images' headers) and what looks like a date or a long number. Anything else a
radiologist typed (a relative's name, a ward, a rare condition) stays: exported reports must be
reviewed by a person before they are shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATES = re.compile(
    "|".join(
        (
            r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b",  # 2024-03-12, 2024/3/12
            r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b",  # 12/03/2024, 3.12.24
            r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20240312 (DICOM DA)
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{2,4}}\b",  # 12 March 2024
            rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}}\b",  # March 12, 2024
            rf"\b{_MONTH}\.?\s+(?:19|20)\d{{2}}\b",  # March 2024
        )
    ),
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"\b\d{6,}\b")  # record numbers, phone numbers; no measurement is this long
_NAME_PART = re.compile(r"[^\W\d_][\w'.-]*")
MIN_NAME_PART = 2  # single initials would replace every "a" and "I"
MIN_IDENTIFIER = 3  # an ID "1" or "42" would replace every such number in the text


def name_variants(name: str) -> set[str]:
    """A name as DICOM (``Family^Given^Middle``) or people (``Given Family``) write it, and each of its parts."""
    parts = [part.strip(".") for part in _NAME_PART.findall(name.replace("^", " "))]
    parts = [part for part in parts if len(part) >= MIN_NAME_PART]
    pairs = {
        f"{first}{between}{second}" for first in parts for second in parts if first != second for between in (" ", ", ")
    }
    variants = {" ".join(parts), " ".join(reversed(parts)), *pairs, *parts}
    return {variant for variant in variants if variant}


def known_identifiers(
    *,
    names: Iterable[str | None] = (),
    patient_ids: Iterable[str | None] = (),
    other: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Value -> placeholder for :func:`redact_text`: names (with their parts), patient IDs, and ``other``."""
    known: dict[str, str] = dict(other or {})
    for name in names:
        known.update(dict.fromkeys(name_variants(name or ""), "[NAME]"))
    for patient_id in patient_ids:
        if patient_id and patient_id.strip():
            known[patient_id.strip()] = "[PATIENT ID]"
    return known


def redact_text(text: str, known: Mapping[str, str]) -> str:
    """Replace each known value (longest first, whole words, any case), then dates, then long numbers."""
    for value in sorted(known, key=len, reverse=True):
        if len(value.strip()) >= (MIN_NAME_PART if known[value] == "[NAME]" else MIN_IDENTIFIER):
            pattern = rf"(?<!\w){re.escape(value.strip())}(?!\w)"
            text = re.sub(pattern, known[value], text, flags=re.IGNORECASE)
    text = _DATES.sub("[DATE]", text)
    return _LONG_NUMBER.sub("[NUMBER]", text)
