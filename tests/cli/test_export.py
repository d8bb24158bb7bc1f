"""``januscxr export``: a data folder with identifiable studies, exported as is and de-identified.

The synthetic studies carry distinctive identifiers in many places (names, IDs, dates, private
tags, nested sequences, UIDs, PNG text chunks, JPEG EXIF and comments, report text); after a
de-identified export none of them may be found in the bytes of any file written.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.storage.database import open_database
from januscxr.storage.reports import ReportText, add_addendum, ensure_report, sign_report
from januscxr.storage.studies import StudyAttributes, add_image, add_study
from januscxr.storage.users import add_user
from tests.conftest import DATA, chest_pixels, cr_dataset

runner = CliRunner()
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
PATIENT = {"name": "QUIXOTE^ZEBULON^ALFONSO", "id": "MRN-98765-ZX", "birth": "19450704"}
STUDY_DATES = ("20230115", "20230301")  # 45 days apart
PHI_TEXT = [  # every one of these is somewhere in the input; none may be in the output
    "QUIXOTE",
    "ZEBULON",
    "ALFONSO",
    "MRN-98765-ZX",
    "OTHER-ID-4711",
    "ACC-55555-Q",
    "ACC-66666-Q",
    "19450704",
    "20230115",
    "20230301",
    "2023-01-15",
    "15/01/2023",
    "St Elsewhere",
    "42 Wallaby Way",
    "FRANKENSTEIN",
    "RATCHED",
    "PRIVATE-SECRET",
    "Gregory Housely",
    "ghousely",
    "+44 20 7946 0018",
    "STATION-ZX9",
    "SERIAL-0815",
]


@dataclass
class Room:
    data_dir: Path
    originals: list[Dataset]  # every DICOM stored, as written
    png: Path
    jpeg: Path


def phi_dataset(study_uid: str, accession: str, study_date: str, series_uid: str) -> Dataset:
    """A CR chest image whose header names the patient, the staff and the hospital in many places."""
    ds = cr_dataset(PatientOrientation=["P", "F"])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.AccessionNumber = study_uid, series_uid, accession
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT["name"], PATIENT["id"], PATIENT["birth"]
    ds.OtherPatientIDs = "OTHER-ID-4711"
    ds.PatientAddress = "42 Wallaby Way, Sydney"
    ds.PatientTelephoneNumbers = "+44 20 7946 0018"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime, ds.ContentTime = "101112", "101530"
    ds.AcquisitionDateTime = study_date + "101500"
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "4711", 1, 1
    ds.ReferringPhysicianName = "FRANKENSTEIN^VICTOR"
    ds.OperatorsName = "RATCHED^MILDRED"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.StationName, ds.DeviceSerialNumber = "STATION-ZX9", "SERIAL-0815"
    ds.Manufacturer = "ACME"
    ds.ImageComments = "Patient Zebulon Quixote, MRN-98765-ZX, portable"
    ds.BurnedInAnnotation = "NO"
    request = Dataset()
    request.RequestedProcedureID = accession
    request.ScheduledProcedureStepDescription = "CXR for QUIXOTE"
    ds.RequestAttributesSequence = Sequence([request])
    view = Dataset()  # a sequence the table does not list: cleaned item by item
    view.CodeValue, view.CodingSchemeDesignator, view.CodeMeaning = "R-10214", "SRT", "postero-anterior"
    view.add_new(0x00091010, "LO", "PRIVATE-SECRET nested")
    view.PersonName = "RATCHED^MILDRED"
    ds.ViewCodeSequence = Sequence([view])
    ds.private_block(0x0011, "ACME PHI", create=True).add_new(0x01, "LO", "PRIVATE-SECRET QUIXOTE")
    return ds


def png_with_text(path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "QUIXOTE^ZEBULON MRN-98765-ZX")
    info.add_itxt("Comment", "St Elsewhere 2023-01-15")
    PILImage.fromarray((chest_pixels(64, 60, bits=8)).astype(np.uint8)).save(path, pnginfo=info)


def jpeg_with_exif(path: Path) -> None:
    exif = PILImage.Exif()
    exif[0x010E] = "QUIXOTE ZEBULON MRN-98765-ZX"  # ImageDescription
    exif[0x0132] = "2023:01:15 10:11:12"  # DateTime
    image = PILImage.fromarray((chest_pixels(64, 64, bits=8)).astype(np.uint8))
    image.save(path, exif=exif, comment=b"St Elsewhere FRANKENSTEIN", quality=90)


@pytest.fixture
def room(tmp_path: Path) -> Room:
    """Two studies of one patient (the first signed and amended, with DICOMs, a PNG and a JPEG), one burned-in
    study of another patient with a missing file."""
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    db = open_database(f"sqlite:///{data_dir / 'januscxr.db'}")
    originals: list[Dataset] = []
    with db.write() as session:
        user = add_user(session, "ghousely", "x", "radiologist", display_name="Gregory Housely")
        for number, (accession, study_date) in enumerate(zip(("ACC-55555-Q", "ACC-66666-Q"), STUDY_DATES, strict=True)):
            study_uid, series_uid = generate_uid(), generate_uid()
            study, _ = add_study(
                session,
                StudyAttributes(
                    study_uid, accession, PATIENT["id"], PATIENT["name"], "M", 77.0, study_date, "101112", "CXR"
                ),
            )
            for instance in (1, 2):
                ds = phi_dataset(study_uid, accession, study_date, series_uid)
                ds.InstanceNumber = instance
                name = f"s{number}-{instance}.dcm"
                ds.save_as(data_dir / "images" / name, enforce_file_format=True)
                originals.append(ds)
                add_image(session, study, sop_instance_uid=ds.SOPInstanceUID, file_path=f"images/{name}")
            if number == 0:
                png_with_text(data_dir / "images" / "upload.png")
                jpeg_with_exif(data_dir / "images" / "upload.jpg")
                for name in ("upload.png", "upload.jpg"):
                    add_image(session, study, sop_instance_uid=generate_uid(), file_path=f"images/{name}")
                report = ensure_report(session, study)
                text = ReportText(
                    "Zebulon Quixote (MRN-98765-ZX), accession ACC-55555-Q, seen 15/01/2023 and 2023-01-15. "
                    "Lungs clear. Phone +44 20 7946 0018.",
                    "No acute disease. Discussed with Dr Frankenstein on 15 January 2023.",
                )
                signed = sign_report(session, report.id, revision=report.revision, text=text, user=user)
                add_addendum(session, signed.id, text="Addendum for QUIXOTE: compared with 20230115.", user=user)
        burned = phi_dataset(generate_uid(), "ACC-77777-B", "20230401", generate_uid())
        burned.PatientID = "OTHER-PATIENT-1"
        burned.BurnedInAnnotation = "YES"
        burned.save_as(data_dir / "images" / "burned.dcm", enforce_file_format=True)
        study, _ = add_study(session, StudyAttributes(burned.StudyInstanceUID, "ACC-77777-B", "OTHER-PATIENT-1"))
        add_image(session, study, sop_instance_uid=burned.SOPInstanceUID, file_path="images/burned.dcm")
        add_image(
            session, study, sop_instance_uid=generate_uid(), file_path="images/gone.dcm", original_name="gone.dcm"
        )
    db.dispose()
    return Room(data_dir, originals, data_dir / "images" / "upload.png", data_dir / "images" / "upload.jpg")


def export(room: Room, out: Path, *args: str) -> tuple[int, str]:
    outcome = runner.invoke(app, ["export", *args, "--out", str(out), "--data-dir", str(room.data_dir)])
    error = str(outcome.exception) if outcome.exception and not isinstance(outcome.exception, SystemExit) else ""
    return outcome.exit_code, outcome.output + error


def manifest(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "manifest.csv").read_text())))


def written_files(out: Path) -> list[Path]:
    return [path for path in out.rglob("*") if path.is_file()]


def dciodvfy_errors(path: Path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_deidentified_export_leaves_no_original_identifier_in_any_file(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = export(room, out, "all", "--deidentify", "--shift-dates")
    assert code == 1 and "skipped gone.dcm" in output  # the missing file is named, the rest exported
    assert "withheld images/burned.dcm" in output
    originals = {uid for ds in room.originals for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)}
    needles = [*PHI_TEXT, *originals, date.today().isoformat()]
    for path in written_files(out):
        data = path.read_bytes().lower()  # in any case: "Frankenstein" in the report is FRANKENSTEIN^VICTOR
        for needle in needles:
            assert needle.lower().encode() not in data, f"{needle!r} found in {path.relative_to(out)}"


def test_deidentified_dicom_keeps_pixels_study_structure_and_shifted_date_intervals(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(room, out, "all", "--deidentify", "--shift-dates")
    rows = [row for row in manifest(out) if row["image_file"].endswith(".dcm")]
    assert len(rows) == 4  # two studies of two DICOMs; the burned-in one withheld, the missing one skipped
    written = [pydicom.dcmread(out / row["image_file"]) for row in rows]
    for original, ds in zip(room.originals, written, strict=True):
        assert ds.PixelData == original.PixelData
        assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100", "113107"]
        assert ds.PatientID == rows[0]["patient_id"] and str(ds.PatientName) == ds.PatientID + "^"
        assert ds.StudyTime == original.StudyTime and ds.PatientBirthDate == ""
        assert not [element for element in ds if element.tag.is_private]
        assert "ImageComments" not in ds and "OperatorsName" not in ds and "InstitutionName" not in ds
        assert ds.ViewCodeSequence[0].CodeMeaning == "postero-anterior"
        assert ds.ViewCodeSequence[0].PersonName == "ANONYMOUS^"  # D: a dummy value
        assert ds.SOPClassUID == original.SOPClassUID and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert dciodvfy_errors(out / rows[written.index(ds)]["image_file"]) == []
    first, second = written[:2], written[2:]
    for study in (first, second):  # one study, one series, distinct instances, all with new UIDs
        assert len({ds.StudyInstanceUID for ds in study}) == 1 and len({ds.SeriesInstanceUID for ds in study}) == 1
        assert len({ds.SOPInstanceUID for ds in study}) == 2
    assert first[0].StudyInstanceUID != second[0].StudyInstanceUID and first[0].PatientID == second[0].PatientID
    shifted = [date.fromisoformat(rows[0]["study_date"]), date.fromisoformat(rows[2]["study_date"])]
    assert shifted[0] < shifted[1] and (shifted[1] - shifted[0]).days == 45
    assert shifted[0] != date(2023, 1, 15)
    assert first[0].StudyDate == shifted[0].strftime("%Y%m%d") == first[0].ContentDate == first[0].AcquisitionDate
    assert first[0].AcquisitionDateTime == shifted[0].strftime("%Y%m%d") + "101500"


def test_png_and_jpeg_lose_their_metadata_not_their_pixels(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(room, out, "ACC-55555-Q", "--deidentify")
    files = {Path(row["image_file"]).suffix: out / row["image_file"] for row in manifest(out)}
    for suffix, source in ((".png", room.png), (".jpg", room.jpeg)):
        with PILImage.open(source) as before, PILImage.open(files[suffix]) as after:
            assert np.array_equal(np.asarray(before), np.asarray(after))
            assert not after.info.get("exif") and "comment" not in after.info and "Patient" not in after.info


def test_report_is_redacted_and_signed_by_a_pseudonymous_reader(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(room, out, "signed", "--deidentify")
    rows = manifest(out)
    assert {row["report_status"] for row in rows} == {"amended"} and len({row["report_file"] for row in rows}) == 1
    report = json.loads((out / rows[0]["report_file"]).read_text())
    assert report["findings"].startswith("[NAME] ([PATIENT ID]), accession [ACCESSION], seen [DATE] and [DATE].")
    assert "Lungs clear" in report["findings"] and "[DATE]" in report["impression"]
    assert report["signed_by"].startswith("READER-") and report["addenda"][0]["author"] == report["signed_by"]
    assert report["signed_at"] is None and report["addenda"][0]["text"].endswith("compared with [DATE].")
    assert rows[0]["study_date"] == ""  # dates removed without --shift-dates


def test_dates_are_removed_or_emptied_without_shift_dates(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(room, out, "ACC-66666-Q", "--deidentify")
    ds = pydicom.dcmread(out / manifest(out)[0]["image_file"])
    assert ds.StudyDate == "" and ds.ContentDate == "" and ds.StudyTime == ""
    assert "AcquisitionDate" not in ds and "SeriesDate" not in ds and "AcquisitionDateTime" not in ds
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_plain_export_copies_files_and_the_signed_report_unchanged(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _ = export(room, out, "ACC-55555-Q", "ACC-66666-Q")
    assert code == 0
    rows = manifest(out)
    assert {row["patient_id"] for row in rows} == {PATIENT["id"]}
    assert (out / rows[0]["image_file"]).read_bytes() == (room.data_dir / "images" / "s0-1.dcm").read_bytes()
    report = json.loads((out / rows[0]["report_file"]).read_text())
    assert report["signed_by"] == "Gregory Housely" and "Zebulon Quixote" in report["findings"]
    assert report["addenda"][0]["text"].startswith("Addendum for QUIXOTE")
    unsigned = [row for row in rows if row["report_status"] == "draft"]
    assert len(unsigned) == 2 and {row["report_file"] for row in unsigned} == {""}


def test_burned_in_images_are_exported_only_when_accepted_and_flagged(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = export(room, out, "ACC-77777-B", "--deidentify", "--include-burned-in")
    assert code == 1 and "flagged images/burned.dcm" in output
    assert [row["burned_in_annotation"] for row in manifest(out)] == ["YES"]


def test_key_file_only_when_asked_and_outside_the_export(room: Room, tmp_path: Path) -> None:
    out, key = tmp_path / "out", tmp_path / "key.csv"
    code, output = export(room, out, "ACC-55555-Q", "--deidentify", "--key-file", str(out / "key.csv"))
    assert code != 0 and "outside" in output and not out.exists()
    export(room, out, "ACC-55555-Q", "--deidentify", "--key-file", str(key))
    entries = list(csv.DictReader(io.StringIO(key.read_text())))
    patient = next(entry for entry in entries if entry["kind"] == "patient")
    assert patient["original"] == PATIENT["id"] and patient["pseudonym"] == manifest(out)[0]["patient_id"]
    assert not [path for path in written_files(out) if b"original" in path.read_bytes()]


def test_out_must_be_new_or_empty_and_studies_must_exist(room: Room, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "something").write_text("x")
    code, output = export(room, out, "all")
    assert code != 0 and "empty folder" in output
    code, output = export(room, tmp_path / "new", "NO-SUCH-ACCESSION")
    assert code != 0 and "NO-SUCH-ACCESSION" in output and not (tmp_path / "new").exists()
    listing = tmp_path / "list.txt"
    listing.write_text("# trial cases\nACC-66666-Q\n")
    code, _ = export(room, tmp_path / "listed", f"@{listing}")
    assert code == 0 and len(manifest(tmp_path / "listed")) == 2


@pytest.mark.parametrize("fixture", ["dicom/RG1_UNCR.dcm", "dicom/RG1_J2KR.dcm", "misc"])
def test_real_fixture_dicoms_pass_dciodvfy_after_deidentification(fixture: str, tmp_path: Path) -> None:
    folder = DATA / "fixtures"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    source = next((folder / "misc").glob("*.dcm")) if fixture == "misc" else folder / fixture
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    shutil.copyfile(source, data_dir / "images" / "real.dcm")
    original = pydicom.dcmread(source)
    db = open_database(f"sqlite:///{data_dir / 'januscxr.db'}")
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(original.StudyInstanceUID, patient_id=original.get("PatientID")))
        add_image(session, study, sop_instance_uid=original.SOPInstanceUID, file_path="images/real.dcm")
    db.dispose()
    out = tmp_path / "out"
    room = Room(data_dir, [], source, source)
    code, output = export(room, out, "all", "--deidentify", "--shift-dates", "--include-burned-in")
    assert code == 0, output
    if fixture == "misc":  # a Secondary Capture that does not say: presumed burned in, exported only on request
        assert "flagged images/real.dcm: Burned In Annotation missing" in output
    written = out / manifest(out)[0]["image_file"]
    ds = pydicom.dcmread(written)
    assert ds.PixelData == original.PixelData and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID != original.StudyInstanceUID and not [e for e in ds if e.tag.is_private]
    data = written.read_bytes()
    identifying = [str(original.get(k, "")) for k in ("PatientName", "PatientID", "InstitutionName", "StudyDate")]
    for value in (v for v in identifying if len(v) > 3):
        assert value.encode() not in data, value
    assert set(dciodvfy_errors(written)) <= set(dciodvfy_errors(source)), fixture  # none added (the source's stay)
