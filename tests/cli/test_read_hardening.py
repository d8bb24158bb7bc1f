"""`januscxr read` on a batch of bad files: every file gets its line, the good ones their results."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from januscxr.cli.app import app
from tests.io.test_limits import png_declaring

runner = CliRunner()


def test_a_batch_with_a_bomb_a_truncated_a_junk_and_a_good_file(write_cr, tmp_path):
    bomb = png_declaring(tmp_path / "bomb.png", 30_000, 30_000)
    truncated = write_cr(name="truncated.dcm")
    truncated.write_bytes(truncated.read_bytes()[:-100])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + b"\x00" * 200)
    good = write_cr(name="good.dcm")
    outcome = runner.invoke(app, ["read", "--classifier", "fake-classifier", *map(str, (bomb, truncated, junk, good))])
    assert outcome.exit_code == 3, outcome.output
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    assert f"== {good}" in outcome.stdout and "IMPRESSION:" in outcome.stdout
    assert "1 of 4 read; 3 failed" in outcome.stderr
    assert "bomb.png: image is 30000x30000 px (900.0 megapixels); the limit is 60 megapixels" in outcome.stderr
    assert "truncated.dcm: truncated: Pixel Data has 30620 bytes, expected 30720" in outcome.stderr
    assert "junk.jpg: not an image; expected DICOM, PNG or JPEG" in outcome.stderr


def test_max_pixels_option(write_cr):
    path = write_cr()  # 120 x 128
    outcome = runner.invoke(
        app, ["read", "--json", "--max-pixels", "10000", "--classifier", "fake-classifier", str(path)]
    )
    assert outcome.exit_code == 3
    (error,) = json.loads(outcome.stdout)["errors"]
    assert error["error"] == "ImageTooLargeError" and "limit is 0.01 megapixels" in error["message"]


def test_unreadable_arguments_are_per_file_errors(write_cr, tmp_path, monkeypatch):
    good = write_cr(name="good.dcm")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    missing = tmp_path / "missing.dcm"
    outcome = runner.invoke(app, ["read", "--classifier", "fake-classifier", str(missing), str(locked), str(good)])
    assert outcome.exit_code == 3, outcome.output
    assert f"== {good}" in outcome.stdout
    assert f"{missing}: cannot open (No such file or directory)" in outcome.stderr
    assert f"{locked}: cannot list folder (Permission denied)" in outcome.stderr
    assert "1 of 3 read; 2 failed" in outcome.stderr


def test_extensionless_dicom_in_a_folder_is_read(write_cr, tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "IM0001").write_bytes(write_cr().read_bytes())
    (folder / "README").write_text("not an image")
    outcome = runner.invoke(app, ["read", "--json", "--classifier", "fake-classifier", str(folder)])
    assert outcome.exit_code == 0, outcome.output
    assert [r["source"] for r in json.loads(outcome.stdout)["results"]] == [str(folder / "IM0001")]
