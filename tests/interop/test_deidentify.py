"""The de-identification parts on their own: keyed replacements, report text, PNG/JPEG metadata."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from januscxr.errors import ImageReadError
from januscxr.interop.deidentify import MAX_SHIFT_DAYS, MIN_SHIFT_DAYS, Deidentifier
from januscxr.interop.image_metadata import strip_metadata
from januscxr.interop.redaction import known_identifiers, redact_text


def test_replacements_are_consistent_within_an_export_and_differ_between_exports() -> None:
    one, two = Deidentifier(), Deidentifier()
    uid = "1.2.826.0.1.3680043.8.498.1234"
    assert one.uid(uid) == one.uid(uid) != two.uid(uid)
    assert one.uid(uid).startswith("2.25.") and len(one.uid(uid)) <= 64
    assert one.uid(CTImageStorage) == CTImageStorage and one.uid(ExplicitVRLittleEndian) == ExplicitVRLittleEndian
    assert one.patient_id("MRN1") == one.patient_id("MRN1") != one.patient_id("MRN2")
    assert len(one.study_id(uid)) <= 16  # DICOM SH
    assert ("patient", "MRN1", one.patient_id("MRN1")) in one.key_entries()
    assert not [entry for entry in one.key_entries() if entry[0] == "date"]  # offsets are never listed


def test_each_patient_has_one_secret_backward_offset() -> None:
    deidentifier = Deidentifier(shift_dates=True)
    offsets = {deidentifier.date_offset(f"patient-{n}").days for n in range(50)}
    assert all(-MAX_SHIFT_DAYS <= days <= -MIN_SHIFT_DAYS for days in offsets) and len(offsets) > 40
    first, later = date(2023, 1, 15), date(2023, 3, 1)
    assert deidentifier.shift(later, "p") - deidentifier.shift(first, "p") == later - first


def test_report_text_loses_known_identifiers_dates_and_long_numbers_but_keeps_findings() -> None:
    known = known_identifiers(names=["DOE^JANE^Q"], patient_ids=["123-XY"], other={"ACC9": "[ACCESSION]"})
    text = (
        "Jane Doe (123-XY, acc ACC9) on March 3, 2024, 3 March 2024, 2024-03-03 and 03/03/24; tel 07700900123. "
        "Doe's 5 mm nodule, unchanged since Jan 2023."
    )
    redacted = redact_text(text, known)
    assert redacted == (
        "[NAME] ([PATIENT ID], acc [ACCESSION]) on [DATE], [DATE], [DATE] and [DATE]; tel [NUMBER]. "
        "[NAME]'s 5 mm nodule, unchanged since [DATE]."
    )


def test_png_text_chunks_go_and_pixels_stay() -> None:
    pixels = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "SECRET NAME")
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    stripped = strip_metadata(buffer.getvalue(), name="x.png")
    assert b"SECRET NAME" in buffer.getvalue() and b"SECRET NAME" not in stripped
    assert np.array_equal(np.asarray(PILImage.open(io.BytesIO(stripped))), pixels)


def test_progressive_jpeg_loses_exif_and_comment_and_keeps_every_scan() -> None:
    rng = np.random.default_rng(0)
    image = PILImage.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    exif = PILImage.Exif()
    exif[0x010E] = "SECRET NAME"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", progressive=True, exif=exif, comment=b"SECRET COMMENT")
    stripped = strip_metadata(buffer.getvalue(), name="x.jpg")
    assert b"SECRET" not in stripped
    before, after = (np.asarray(PILImage.open(io.BytesIO(data))) for data in (buffer.getvalue(), stripped))
    assert np.array_equal(before, after)


@pytest.mark.parametrize("data", [b"GIF89a...", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"\xff\xd8\xff\xe0\x00"])
def test_other_or_truncated_files_are_refused_by_name(data: bytes) -> None:
    with pytest.raises(ImageReadError, match=r"^scan\.bin: "):
        strip_metadata(data, name="scan.bin")
