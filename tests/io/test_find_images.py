"""Folders expand into image files recognised by suffix or by content."""

from __future__ import annotations

import os

from januscxr.io import find_images, search_images


def test_dicom_without_extension_is_found_and_junk_is_skipped(write_cr, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "IM000001").write_bytes(write_cr().read_bytes())  # a DICOM named without a suffix
    (folder / "DICOMDIR.txt").write_text("index")
    (folder / "notes").write_bytes(b"not an image at all")
    (folder / "junk.png").write_bytes(b"junk")  # an image suffix: kept, to get its own read error
    assert [p.name for p in find_images([folder])] == ["IM000001", "junk.png"]


def test_a_folder_that_cannot_be_listed_is_an_error_of_its_own(write_cr, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    good = write_cr(name="good.dcm")
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    search = search_images([locked, good])
    assert search.files == [good]
    ((where, error),) = search.errors
    assert where == locked and str(error) == f"{locked}: cannot list folder (Permission denied)"
