"""Text that goes into a DICOM object: checked against its value representation, or refused by name.

pydicom writes what it is given: a control character, a value longer than its VR allows or a
lone surrogate would make an object that a PACS rejects (or stores garbled) long after the
report was signed. Every free-text value januscxr writes passes one of these checks first, and a
failure is one :class:`DicomEncodingError` naming the field.
"""

from __future__ import annotations

import re

from januscxr.errors import DicomEncodingError

# januscxr's objects are written in UTF-8, whatever the source image used, so any report text encodes.
SPECIFIC_CHARACTER_SET = "ISO_IR 192"

# PS3.5 6.2: the long text VRs (ST, LT, UT) allow TAB, LF, FF and CR among the control characters;
# ESC only introduces ISO 2022 code extensions, which UTF-8 does not use. C1 controls are never text.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # short VRs (LO, SH, PN): no control characters at all
_SURROGATE = re.compile(r"[\ud800-\udfff]")

UT_MAX_BYTES = 2**32 - 2
LO_MAX_CHARS = 64
PN_MAX_CHARS = 64  # per component group


def checked_text(value: str, *, field: str) -> str:
    """A TEXT content item's value (VR UT): any length DICOM allows, TAB/LF/FF/CR as the only controls."""
    _check_encodable(value, field)
    if match := _TEXT_CONTROL.search(value):
        raise DicomEncodingError(
            f"{field}: control character U+{ord(match.group()):04X} at position {match.start()}; "
            "expected text with TAB, LF, FF or CR as the only control characters"
        )
    size = len(value.encode("utf-8"))
    if size > UT_MAX_BYTES:
        raise DicomEncodingError(f"{field}: {size} bytes; expected at most {UT_MAX_BYTES} (DICOM UT)")
    return value


def checked_line(value: str, *, field: str, max_chars: int = LO_MAX_CHARS) -> str:
    """A one-line value (VR LO by default): no control characters, no backslash, at most ``max_chars``."""
    _check_encodable(value, field)
    if match := _LINE_CONTROL.search(value):
        raise DicomEncodingError(
            f"{field}: control character U+{ord(match.group()):04X} at position {match.start()}; "
            "expected a single line of text"
        )
    if "\\" in value:
        raise DicomEncodingError(f"{field}: contains a backslash; expected none (it separates DICOM values)")
    if len(value) > max_chars:
        raise DicomEncodingError(f"{field}: {len(value)} characters; expected at most {max_chars}")
    return value


def person_name(value: str, *, field: str) -> str:
    """A DICOM PN from a name as users see it.

    A value with carets is taken as already in DICOM form (``Family^Given``). A display name
    without one cannot be split into family and given names reliably ("Jane Smith", "Smith Jane"),
    so it becomes the family-name component as it stands, with the trailing caret that marks it
    as deliberate (``Jane Smith^``).
    """
    name = value.strip()
    if not name:
        raise DicomEncodingError(f"{field}: empty; expected a person's name")
    if "=" in name:
        raise DicomEncodingError(f"{field}: contains '='; expected a name without DICOM component groups")
    return checked_line(name if "^" in name else f"{name}^", field=field, max_chars=PN_MAX_CHARS)


def _check_encodable(value: str, field: str) -> None:
    if match := _SURROGATE.search(value):
        raise DicomEncodingError(
            f"{field}: unpaired surrogate U+{ord(match.group()):04X} at position {match.start()}; "
            "expected text that encodes as UTF-8"
        )
