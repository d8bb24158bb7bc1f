"""``januscxr export`` against a careless or hostile user: odd files, odd folders, many studies.

Each data folder here is built by the test: DICOMs with a marker planted everywhere at once,
Secondary Captures that do not say whether text is burned in, files whose name lies about their
format, ``--out`` as a link or inside the data folder, and a thousand studies.
"""

from __future__ import annotations

import io
import shutil
import tracemalloc
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from januscxr.storage.database import open_database
from januscxr.storage.studies import StudyAttributes, add_image, add_study
from tests.cli.test_export import Room, dciodvfy_errors, export, manifest, written_files
from tests.conftest import cr_dataset
from tests.interop.test_deidentify_fuzz import HALVES, MARKER, leaks

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def phi_everywhere() -> Dataset:
    """A CR image with the marker in every place the fuzz test plants it, all at once."""
    ds = cr_dataset(PatientOrientation=["P", "F"])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = 1, 1, "ACME"
    ds.PatientName, ds.PatientID = "^".join(HALVES), MARKER
    ds.OtherPatientNames = ["OTHER^NAME", MARKER.upper()]
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime = "19370412", "20240301", "101112"
    ds.AccessionNumber, ds.StudyID, ds.InstitutionName = MARKER, MARKER, f"{MARKER} General"
    ds.ReferringPhysicianName = MARKER
    ds.StudyDescription = f"CXR {MARKER.lower()}"
    ds.ImageComments = f"Patient {MARKER}, bed 4"
    ds.BurnedInAnnotation = "NO"
    for keyword in ("OtherPatientIDsSequence", "RequestAttributesSequence", "ReferencedPatientSequence"):
        item = Dataset()
        item.PatientID = item.RequestedProcedureDescription = MARKER
        setattr(ds, keyword, [item])
    content = Dataset()
    content.ValueType, content.TextValue = "TEXT", MARKER
    ds.ContentSequence = [content]
    leaf = Dataset()
    leaf.PersonName = MARKER
    middle = Dataset()
    middle.ReferencedSeriesSequence = [leaf]
    view = Dataset()
    view.CodeValue, view.CodingSchemeDesignator, view.CodeMeaning = "R-10214", "SRT", "postero-anterior"
    view.ViewModifierCodeSequence = [middle]
    ds.ViewCodeSequence = [view]
    block = ds.private_block(0x0029, "HOSTILE VENDOR", create=True)
    block.add_new(0x01, "UT", MARKER)
    private_item = Dataset()
    private_item.PatientName = MARKER
    block.add_new(0x10, "SQ", [private_item])
    ds.add_new(0x60000022, "LO", MARKER)  # Overlay Description
    ds.file_meta.SourceApplicationEntityTitle = MARKER
    ds.preamble = (MARKER.encode() * 13)[:128]
    return ds


def data_folder(tmp_path: Path, files: Seq[tuple[str, bytes]], *, patient_id: str = "PAT-1") -> Path:
    """A data folder whose one study holds ``files`` (name, bytes) as its images."""
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    db = open_database(f"sqlite:///{data_dir / 'januscxr.db'}")
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(generate_uid(), "ACC-1", patient_id, "DOE^JANE"))
        for name, data in files:
            (data_dir / "images" / name).write_bytes(data)
            add_image(session, study, sop_instance_uid=generate_uid(), file_path=f"images/{name}")
    db.dispose()
    return data_dir


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.full((16, 16), 90, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def room_of(data_dir: Path) -> Room:
    return Room(data_dir, [], data_dir, data_dir)


@pytest.mark.parametrize("shift", [False, True])
def test_a_marker_planted_everywhere_leaves_no_trace_and_the_file_passes_dciodvfy(tmp_path: Path, shift: bool) -> None:
    data_dir = data_folder(tmp_path, [("phi.dcm", dicom_bytes(phi_everywhere()))], patient_id=MARKER)
    out = tmp_path / "out"
    code, output = export(room_of(data_dir), out, "all", "--deidentify", *(["--shift-dates"] if shift else []))
    assert code == 0, output
    for path in written_files(out):
        assert leaks(path.read_bytes(), shift_dates=True) == [], path.name
    written = out / manifest(out)[0]["image_file"]
    ds = pydicom.dcmread(written)
    ds.decode()
    assert ds.PatientIdentityRemoved == "YES" and ds.preamble == bytes(128)
    assert dciodvfy_errors(written) == []


def secondary_capture(**attributes: object) -> Dataset:
    ds = cr_dataset(np.zeros((16, 16), dtype=np.uint16), **attributes)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    return ds


def plain_cr(**attributes: object) -> Dataset:
    ds = cr_dataset(np.zeros((16, 16), dtype=np.uint16), **attributes)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    return ds


@pytest.mark.parametrize(
    "dataset",
    [
        secondary_capture(),
        plain_cr(ImageType=["DERIVED", "SECONDARY", "SCREEN"]),
        plain_cr(ImageType=["DERIVED", "SECONDARY", "REPORT"]),
    ],
    ids=["secondary-capture", "screen", "report"],
)
def test_images_that_may_carry_burned_in_text_without_saying_so_are_withheld(tmp_path: Path, dataset: Dataset) -> None:
    data_dir = data_folder(tmp_path, [("capture.dcm", dicom_bytes(dataset))])
    out = tmp_path / "out"
    code, output = export(room_of(data_dir), out, "all", "--deidentify")
    assert code == 0 and "withheld images/capture.dcm: Burned In Annotation missing" in output
    assert [row["image_file"] for row in manifest(out)] == [""]
    code, output = export(room_of(data_dir), tmp_path / "included", "all", "--deidentify", "--include-burned-in")
    assert code == 0 and "flagged images/capture.dcm" in output
    assert [row["burned_in_annotation"] for row in manifest(tmp_path / "included")] == ["PRESUMED"]


def test_an_original_radiograph_without_the_attribute_is_still_exported(tmp_path: Path) -> None:
    data_dir = data_folder(tmp_path, [("cr.dcm", dicom_bytes(plain_cr(ImageType=["ORIGINAL", "PRIMARY"])))])
    code, _ = export(room_of(data_dir), tmp_path / "out", "all", "--deidentify")
    assert code == 0 and [row["burned_in_annotation"] for row in manifest(tmp_path / "out")] == [""]


def test_a_file_whose_extension_lies_is_exported_by_its_content(tmp_path: Path) -> None:
    ds = phi_everywhere()
    data_dir = data_folder(tmp_path, [("scan.png", dicom_bytes(ds)), ("photo.dcm", png_bytes())])
    out = tmp_path / "out"
    code, output = export(room_of(data_dir), out, "all", "--deidentify")
    assert code == 0, output
    files = sorted(Path(row["image_file"]).name for row in manifest(out))
    assert files == ["image-01.dcm", "image-02.png"]
    assert pydicom.dcmread(next(out.rglob("image-01.dcm"))).PatientIdentityRemoved == "YES"
    assert all(leaks(path.read_bytes(), shift_dates=True) == [] for path in written_files(out))


def test_out_given_as_a_link_is_refused(tmp_path: Path) -> None:
    data_dir = data_folder(tmp_path, [("cr.dcm", dicom_bytes(plain_cr()))])
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    code, output = export(room_of(data_dir), link, "all", "--deidentify")
    assert code != 0 and "--out" in output and "link" in output and not any(target.iterdir())
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    code, output = export(room_of(data_dir), dangling, "all", "--deidentify")
    assert code != 0 and "link" in output and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("where", ["data/exports/trial", "data", "."])
def test_out_inside_the_data_folder_or_holding_it_is_refused(tmp_path: Path, where: str) -> None:
    data_dir = data_folder(tmp_path, [("cr.dcm", dicom_bytes(plain_cr()))])
    out = tmp_path / where
    code, output = export(room_of(data_dir), out, "all", "--deidentify")
    assert code != 0 and "data folder" in output, output
    assert not (data_dir / "exports").exists() and not (tmp_path / "manifest.csv").exists()


def test_a_key_file_reached_through_a_link_into_out_is_refused(tmp_path: Path) -> None:
    data_dir = data_folder(tmp_path, [("cr.dcm", dicom_bytes(plain_cr()))])
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "keys").symlink_to(out)
    code, output = export(room_of(data_dir), out, "all", "--deidentify", "--key-file", str(tmp_path / "keys/k.csv"))
    assert code != 0 and "outside" in output and not any(out.iterdir())


@pytest.mark.slow
def test_a_thousand_studies_export_with_bounded_memory(tmp_path: Path) -> None:
    """128 KiB per image, 125 MiB in all: the export's peak allocation stays a small fraction of that."""
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    template = plain_cr(BurnedInAnnotation="NO")
    template.PixelData = np.zeros((256, 256), dtype=np.uint16).tobytes()
    template.Rows = template.Columns = 256
    db = open_database(f"sqlite:///{data_dir / 'januscxr.db'}")
    with db.write() as session:
        for number in range(1000):
            template.StudyInstanceUID, template.SOPInstanceUID = generate_uid(), generate_uid()
            template.PatientID = f"PAT-{number}"
            template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
            name = f"images/{number}.dcm"
            template.save_as(data_dir / name, enforce_file_format=True)
            study, _ = add_study(session, StudyAttributes(template.StudyInstanceUID, f"ACC-{number}", f"PAT-{number}"))
            add_image(session, study, sop_instance_uid=template.SOPInstanceUID, file_path=name)
    db.dispose()
    out = tmp_path / "out"
    tracemalloc.start()
    try:
        code, output = export(room_of(data_dir), out, "all", "--deidentify", "--shift-dates")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0 and output.rstrip().endswith(f"1000 studies, 1000 images, 0 reports -> {out}")
    assert "exporting studies" in output  # the progress bar
    assert len(manifest(out)) == 1000 and len({row["patient_id"] for row in manifest(out)}) == 1000
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert sum(p.stat().st_size for p in written_files(out)) > 120 * 2**20
    shutil.rmtree(out)
