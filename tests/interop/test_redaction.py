"""Report redaction as a careless typist writes: names, record numbers, dates and phones in many forms.

The cases marked as kept are what docs/integration.md says is not caught; they stay tested so the
documentation stays true.
"""

from __future__ import annotations

import pytest

from januscxr.interop.redaction import known_identifiers, redact_text

KNOWN = known_identifiers(
    names=["SMITH^JOHN^Édouard", "Müller^José"],
    patient_ids=["123-456-78"],
    other={"ACC-0042": "[ACCESSION]"},
)


@pytest.mark.parametrize(
    "written",
    [
        "SMITH, JOHN",
        "Smith,John",
        "John Smith",
        "john  smith",
        "J. Smith",
        "J Smith",
        "Smith, J",
        "SMITH J",
        "John Edouard Smith",
        "Édouard",
        "edouard",
        "José Müller",
        "Jose Muller",
        "JOSÉ MÜLLER",
        "Müller, J",
    ],
)
def test_the_patients_name_in_other_forms_is_replaced(written: str) -> None:
    redacted = redact_text(f"Patient {written} was seen; {written}'s lungs are clear.", KNOWN)
    assert redacted == "Patient [NAME] was seen; [NAME]'s lungs are clear."


@pytest.mark.parametrize("written", ["12345678", "123 456 78", "123-456-78", "123.456.78", "123/456/78"])
def test_the_record_number_with_spaces_or_dashes_is_replaced(written: str) -> None:
    assert redact_text(f"MRN {written}, acc ACC 0042 and acc0042.", KNOWN) == (
        "MRN [PATIENT ID], acc [ACCESSION] and [ACCESSION]."
    )


@pytest.mark.parametrize(
    "written",
    [
        "2024-03-01",
        "2024/3/1",
        "01/03/2024",
        "1.3.24",
        "20240301",
        "1 March 2024",
        "1st of March, 2024",
        "01-MAR-2024",
        "March 1st, 2024",
        "Mar. 1, 2024",
        "March 2024",
        "March 1st",
        "March 1",
        "1 March",
        "1st of March",
    ],
)
def test_dates_in_many_formats_are_replaced(written: str) -> None:
    assert redact_text(f"Compared with {written}, unchanged.", {}) == "Compared with [DATE], unchanged."


@pytest.mark.parametrize(
    "written",
    ["(555) 123-4567", "555-123-4567", "+1 555 123 4567", "020 7946 0018", "+44 20 7946 0018", "07700 900123"],
)
def test_phone_numbers_are_replaced(written: str) -> None:
    assert redact_text(f"Call {written} with results.", {}) == "Call [PHONE] with results."


@pytest.mark.parametrize(
    "text",
    [
        "Nodule 12.5 x 10.3 cm, 3 x 4 x 5 mm, series 3 image 45, T10-T12, BP 120/80, at 12:30.",
        "This may 2 be atelectasis; findings 3 may represent scarring.",
        "2 septal lines, 10 decreased.",
    ],
)
def test_measurements_and_ordinary_words_stay(text: str) -> None:
    assert redact_text(text, KNOWN) == text


@pytest.mark.parametrize(
    "text",
    [
        "JS reviewed",  # initials alone
        "Mr Mueller",  # a transliteration, not the name as written in the header
        "seen on 3/1",  # day and month alone, in figures
        "noted in 2024",  # a year alone
        "his wife Mary called",  # a name the header does not give
    ],
)
def test_what_is_documented_as_not_caught_stays(text: str) -> None:
    assert redact_text(text, KNOWN) == text
