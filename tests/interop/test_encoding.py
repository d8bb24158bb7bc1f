"""Text checks: what DICOM's text VRs allow passes unchanged; anything else is refused by field name."""

from __future__ import annotations

import pytest

from januscxr.errors import DicomEncodingError
from januscxr.interop.encoding import checked_line, checked_text, person_name


def test_text_keeps_what_ut_allows() -> None:
    text = "Línea 1\tcol\r\nLine 2\fpage — ✓ 肺"
    assert checked_text(text, field="report findings") == text


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b", "\x7f", "\x9b"])
def test_text_refuses_other_controls(bad: str) -> None:
    with pytest.raises(
        DicomEncodingError, match=rf"^report findings: control character U\+{ord(bad):04X} at position 2;"
    ):
        checked_text(f"ab{bad}cd", field="report findings")


def test_line_limits() -> None:
    assert checked_line("x" * 64, field="organization") == "x" * 64
    with pytest.raises(DicomEncodingError, match="^organization: 65 characters; expected at most 64$"):
        checked_line("x" * 65, field="organization")
    with pytest.raises(DicomEncodingError, match="^organization: control character U\\+000A"):
        checked_line("two\nlines", field="organization")


def test_person_name() -> None:
    assert person_name("  Jane Smith ", field="signer name") == "Jane Smith^"
    assert person_name("Smith^Jane", field="signer name") == "Smith^Jane"
    with pytest.raises(DicomEncodingError, match="^signer name: contains '='"):
        person_name("Smith^Jane=スミス", field="signer name")
