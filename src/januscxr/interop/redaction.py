"""Best-effort de-identification of report text: known identifiers and date-like patterns become placeholders.

A report is free text. What can be replaced reliably is what is known (this patient's name and
IDs, the study's accession number and UID, the names of the people who signed it, identifiers
found in the images' headers) and what looks like a date, a phone number or a long number. Anything else a
radiologist typed (a relative's name, a ward, a rare condition) stays: exported reports must be
reviewed by a person before they are shared.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NOT_MAY = r"(?!may\b)"  # "may" alone is a verb far more often than a month: "3 may", "may 2" stay
_ORDINAL = r"(?:st|nd|rd|th)"
_DATES = re.compile(
    "|".join(
        (
            r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b",  # 2024-03-12, 2024/3/12
            r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b",  # 12/03/2024, 3.12.24
            r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20240312 (DICOM DA)
            rf"\b\d{{1,2}}{_ORDINAL}?[\s-]+(?:of\s+)?{_MONTH}\.?,?[\s-]+\d{{2,4}}\b",  # 12 March 2024, 1-MAR-2024
            rf"\b{_MONTH}\.?\s+\d{{1,2}}{_ORDINAL}?,?\s+\d{{2,4}}\b",  # March 12, 2024
            rf"\b{_MONTH}\.?\s+(?:19|20)\d{{2}}\b",  # March 2024
            rf"\b{_MONTH}\.?\s+\d{{1,2}}{_ORDINAL}\b|\b{_NOT_MAY}{_MONTH}\.?\s+\d{{1,2}}\b",  # March 1st, March 1
            rf"\b\d{{1,2}}{_ORDINAL}\s+(?:of\s+)?{_MONTH}\b|\b\d{{1,2}}\s+{_NOT_MAY}{_MONTH}\b",  # 1st of March, 1 March
        )
    ),
    re.IGNORECASE,
)
# Telephone numbers: groups of digits with an optional +country code and (area code), 7 to 15 digits.
_PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,6}){1,4}(?![\w.])")
_PHONE_DIGITS = range(7, 16)
_LONG_NUMBER = re.compile(r"\b\d{6,}\b")  # record numbers, phone numbers; no measurement is this long
_ADJACENT_NAMES = re.compile(r"\[NAME\](?:\s*,?\s*\[NAME\])+")
_NAME_PART = re.compile(r"[^\W\d_][\w'.-]*")
_FOLDED = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i"}  # no decomposition, one letter
MIN_NAME_PART = 2  # single initials would replace every "a" and "I"
MIN_IDENTIFIER = 3  # an ID "1" or "42" would replace every such number in the text


def name_variants(name: str) -> set[str]:
    """A name as DICOM (``Family^Given^Middle``) or people (``Given Family``, ``J. Smith``, ``Smith, J``) write it.

    Every ordered pair of its parts, each part alone, and each part with the other's initial.
    """
    parts = [part.strip(".") for part in _NAME_PART.findall(name.replace("^", " "))]
    parts = [part for part in parts if len(part) >= MIN_NAME_PART]
    pairs = {
        f"{first}{between}{second}" for first in parts for second in parts if first != second for between in (" ", ", ")
    }
    initials = {
        variant
        for given in parts
        for family in parts
        if given != family
        for variant in (
            f"{given[0]}. {family}",
            f"{given[0]} {family}",
            f"{family}, {given[0]}",
            f"{family} {given[0]}",
        )
    }
    variants = {" ".join(parts), " ".join(reversed(parts)), *pairs, *initials, *parts}
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
    """Replace each known value (longest first, whole words, any case and accents), then dates, phones, long numbers.

    Names match with any spacing around their comma and space; other identifiers also with spaces,
    dashes, dots or slashes between their characters, or none (``123-456``, ``123 456``, ``123456``).
    """
    text = unicodedata.normalize("NFC", text)
    for value in sorted(known, key=len, reverse=True):
        placeholder, value = known[value], value.strip()
        is_name = placeholder == "[NAME]"
        core = value if is_name else "".join(c for c in value if c.isalnum())
        if len(core) >= (MIN_NAME_PART if is_name else MIN_IDENTIFIER):
            pattern = _name_pattern(_fold(value)) if is_name else r"[\s./-]?".join(map(re.escape, _fold(core)))
            text = _replace_folded(text, re.compile(rf"(?<!\w){pattern}(?!\w)", re.IGNORECASE), placeholder)
    text = _ADJACENT_NAMES.sub("[NAME]", text)  # "John Edouard Smith": the parts of one name, one placeholder
    text = _DATES.sub("[DATE]", text)
    text = _PHONE.sub(_phone, text)
    return _LONG_NUMBER.sub("[NUMBER]", text)


def _fold(text: str) -> str:
    """Each character as its base letter (é -> e, ø -> o): one character for one, so positions carry over."""
    return "".join(_FOLDED.get(c, unicodedata.normalize("NFD", c)[0]) for c in text)


def _name_pattern(name: str) -> str:
    """``name`` with any run of spaces, and any spacing around a comma, allowed where it has them."""
    pieces = re.split(r"(\s*,\s*|\s+)", name)
    return "".join(r"\s*,\s*" if "," in p else r"\s+" if p.isspace() else re.escape(p) for p in pieces if p)


def _replace_folded(text: str, pattern: re.Pattern[str], placeholder: str) -> str:
    """``text`` with each match of ``pattern`` in its folded form replaced by ``placeholder``."""
    pieces, last = [], 0
    for match in pattern.finditer(_fold(text)):
        pieces += [text[last : match.start()], placeholder]
        last = match.end()
    return "".join(pieces) + text[last:]


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group())
    return "[PHONE]" if digits in _PHONE_DIGITS else match.group()
