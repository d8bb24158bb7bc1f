"""Property-based de-identification: a PHI marker planted anywhere in a DICOM file never survives.

Hypothesis builds CR datasets with a marker in random places (any public text attribute, dates,
private tags and private sequences, sequences three deep, multi-valued elements, the sequences
that name other patients and requests, SR content, overlays, the file meta and the preamble) and
checks the bytes :func:`deidentify_dataset` writes: the marker is gone in any case, in UTF-8 and
UTF-16, and split by ``^``; the file still reads. Derandomized, like the other fuzz tests.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from januscxr.interop.confidentiality_profile import KEPT_TEXT
from januscxr.interop.deidentify import Deidentifier, deidentify_dataset
from tests.conftest import cr_dataset

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)
MARKER = "Zyxquorbel"  # a name no attribute, UID or code contains
HALVES = ("Zyxquo", "rbelvanq")  # planted as "Zyxquo^rbelvanq": each half must go
DATE_MARKER = "19370412"  # a birth date
TIME_MARKER = "235917.864213"

TEXT_VRS = ("PN", "LO", "SH", "ST", "LT", "UT", "UC")
_PUBLIC = {
    vr: sorted(
        keyword
        for tag, (entry_vr, _, _, retired, keyword) in DicomDictionary.items()
        if entry_vr == vr and keyword and not retired and keyword not in KEPT_TEXT and Tag(tag).group > 0x0002
    )
    for vr in (*TEXT_VRS, "DA", "DT", "TM", "SQ")
}


def _variants(draw: st.DrawFn) -> str:
    """The marker as someone would type it: any case, alone, in a sentence, or split by ``^``."""
    form = draw(st.sampled_from(["plain", "upper", "lower", "sentence", "split"]))
    return {
        "plain": MARKER,
        "upper": MARKER.upper(),
        "lower": MARKER.lower(),
        "sentence": f"Seen by {MARKER} at 10:00",
        "split": "^".join(HALVES),
    }[form]


def _fits(vr: str, text: str) -> str:
    """``text`` within the VR's length limit (SH and AE 16, LO 64)."""
    return text[: {"SH": 16, "AE": 16, "LO": 64}.get(vr, 1024)] if text != "^".join(HALVES) else text


Plant = Callable[[Dataset], None]


@st.composite
def text_plant(draw: st.DrawFn) -> Plant:
    vr = draw(st.sampled_from(TEXT_VRS))
    keyword = draw(st.sampled_from(_PUBLIC[vr]))
    value = _fits(vr, _variants(draw))
    multi = draw(st.booleans()) and vr not in ("ST", "LT", "UT")
    return lambda ds: setattr(ds, keyword, ["OTHER", value] if multi else value)


@st.composite
def date_plant(draw: st.DrawFn) -> Plant:
    vr = draw(st.sampled_from(["DA", "DT"]))
    keyword = draw(st.sampled_from(_PUBLIC[vr]))
    value = DATE_MARKER if vr == "DA" else DATE_MARKER + "101500"
    return lambda ds: setattr(ds, keyword, value)


@st.composite
def time_plant(draw: st.DrawFn) -> Plant:
    keyword = draw(st.sampled_from(_PUBLIC["TM"]))
    return lambda ds: setattr(ds, keyword, TIME_MARKER)


@st.composite
def private_plant(draw: st.DrawFn) -> Plant:
    value, as_sequence = _variants(draw), draw(st.booleans())

    def plant(ds: Dataset) -> None:
        block = ds.private_block(0x0029, "HOSTILE VENDOR", create=True)
        if as_sequence:
            item = Dataset()
            item.PatientName = value
            item.add_new(0x00291001, "LO", value)
            block.add_new(0x10, "SQ", Sequence([item]))
        else:
            block.add_new(0x01, "UT", value)

    return plant


@st.composite
def nested_plant(draw: st.DrawFn) -> Plant:
    """A marker three sequences deep, in any of the sequence attributes, planted as any text VR."""
    outer, middle, inner = (draw(st.sampled_from(_PUBLIC["SQ"])) for _ in range(3))
    vr = draw(st.sampled_from(TEXT_VRS))
    keyword, value = draw(st.sampled_from(_PUBLIC[vr])), _fits(vr, _variants(draw))

    def plant(ds: Dataset) -> None:
        leaf = Dataset()
        setattr(leaf, keyword, value)
        item = leaf
        for sequence in (inner, middle, outer):
            parent = Dataset()
            setattr(parent, sequence, Sequence([item]))
            item = parent
        setattr(ds, outer, getattr(item, outer))

    return plant


@st.composite
def named_sequence_plant(draw: st.DrawFn) -> Plant:
    """The sequences that name other patients, requests and report content."""
    sequence = draw(
        st.sampled_from(
            ["OtherPatientIDsSequence", "RequestAttributesSequence", "ReferencedPatientSequence", "ContentSequence"]
        )
    )
    value = _fits("LO", _variants(draw))

    def plant(ds: Dataset) -> None:
        item = Dataset()
        item.PatientID, item.TextValue, item.PersonName = value, value, value
        item.RequestedProcedureDescription = value
        setattr(ds, sequence, Sequence([item]))

    return plant


@st.composite
def overlay_plant(draw: st.DrawFn) -> Plant:
    group, value = draw(st.sampled_from([0x6000, 0x6002, 0x601E])), _fits("LO", _variants(draw))

    def plant(ds: Dataset) -> None:
        ds.add_new((group, 0x0010), "US", 8)
        ds.add_new((group, 0x0011), "US", 8)
        ds.add_new((group, 0x0022), "LO", value)  # Overlay Description
        ds.add_new((group, 0x1500), "LO", value)  # Overlay Label
        ds.add_new((group, 0x3000), "OW", value.encode().ljust(8, b" ")[:8])

    return plant


@st.composite
def meta_plant(draw: st.DrawFn) -> Plant:
    value = _fits("AE", _variants(draw))

    def plant(ds: Dataset) -> None:
        ds.file_meta.SourceApplicationEntityTitle = value
        ds.file_meta.ImplementationVersionName = value[:16]
        ds.preamble = (value.encode() * 20)[:128].ljust(128, b"\0")

    return plant


PLANTS = st.lists(
    st.one_of(
        text_plant(),
        date_plant(),
        time_plant(),
        private_plant(),
        nested_plant(),
        named_sequence_plant(),
        overlay_plant(),
        meta_plant(),
    ),
    min_size=1,
    max_size=6,
)


def planted(plants: list[Plant], *, utf8: bool) -> Dataset:
    ds = cr_dataset(np.zeros((8, 8), dtype=np.uint16))
    if utf8:
        ds.SpecificCharacterSet = "ISO_IR 192"
    for plant in plants:
        plant(ds)
    return ds


def leaks(data: bytes, *, shift_dates: bool) -> list[str]:
    """The forms of the marker found in ``data`` (any case; UTF-8/Latin-1 and UTF-16)."""
    lowered = data.lower()
    needles = [MARKER, *HALVES, DATE_MARKER] + ([] if shift_dates else [TIME_MARKER.split(".")[1]])
    found = [n for n in needles if n.lower().encode() in lowered]
    found += [
        f"utf-16 {n}"
        for n in (MARKER, *HALVES)
        for codec in ("utf-16-le", "utf-16-be")
        if n.lower().encode(codec) in lowered
    ]
    return found


@FUZZ
@given(plants=PLANTS, shift_dates=st.booleans(), utf8=st.booleans())
def test_a_planted_marker_never_survives_deidentification(plants: list[Plant], shift_dates: bool, utf8: bool) -> None:
    ds = planted(plants, utf8=utf8)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    source = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    deidentify_dataset(source, Deidentifier(shift_dates=shift_dates), patient_key="P1", study_key="S1")
    out = io.BytesIO()
    source.save_as(out, enforce_file_format=True)
    assert leaks(out.getvalue(), shift_dates=shift_dates) == []
    again = pydicom.dcmread(io.BytesIO(out.getvalue()))
    again.decode()  # every element's value decodes under the character set
    assert again.PatientIdentityRemoved == "YES" and again.pixel_array.shape == (8, 8)
