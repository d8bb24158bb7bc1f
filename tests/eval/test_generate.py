"""``januscxr eval generate`` and ``eval compare``: drafting, resuming, scoring, pages, paired bootstrap."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PilImage
from typer.testing import CliRunner

from januscxr.cli.evaluate import app
from januscxr.errors import ManifestError
from januscxr.eval.generate import DRAFTS_FILE, generate_drafts, read_drafts, run_generate
from januscxr.eval.generate_compare import compare_runs
from januscxr.eval.report_manifest import read_report_manifest
from januscxr.labels import Finding
from januscxr.report import FindingsComposer
from januscxr.types import DraftReport, FindingResult, Image
from tests.conftest import chest_pixels

from .corpus import CORPUS

runner = CliRunner()
REFERENCES = [reference for _, reference in CORPUS.values()]
NO_METEOR = ("BLEU_1", "BLEU_4", "ROUGE_L", "CIDEr")  # METEOR's Java start takes seconds: two tests run it


def write_manifest(
    folder: Path,
    n: int = 6,
    *,
    references: list[str] | None = None,
    extra_rows: list[dict[str, str]] | None = None,
) -> Path:
    """PNG chest images and a CSV manifest (image, findings, impression, patient_id), two images a patient."""
    texts = references or REFERENCES
    rows = []
    for k in range(n):
        image = folder / "images" / f"img{k}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        pixels = chest_pixels(72 + 4 * k, 68, bits=8).astype(np.uint8)
        PilImage.fromarray(pixels).save(image)
        text = texts[k % len(texts)]
        rows.append({"image": f"images/img{k}.png", "findings": text, "impression": "", "patient_id": f"p{k // 2}"})
    rows += extra_rows or []
    path = folder / "test.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "findings", "impression", "patient_id"])
        writer.writeheader()
        writer.writerows(rows)
    return path


class CopyingReporter:
    """Drafts exactly the reference report of each image: the best reporter there can be."""

    name = "copy-reference"

    def __init__(self, references: Mapping[str, str]) -> None:
        self.references = references

    def draft(self, image: Image, findings: Mapping[Finding, FindingResult]) -> DraftReport:
        return DraftReport(findings=self.references[image.source], impression="", reporter=self.name)


class CountingComposer(FindingsComposer):
    """The bundled composer that counts its drafts and can fail at a given one (a kill)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def draft(self, image: Image, findings: Mapping[Finding, FindingResult]) -> DraftReport:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a batch
        return super().draft(image, findings)


def test_composer_end_to_end_scores_every_metric_and_counts_bad_rows(tmp_path: Path) -> None:
    bad = [
        {"image": "images/missing.png", "findings": "No effusion.", "impression": "", "patient_id": "p9"},
        {"image": "images/img0-copy.png", "findings": "", "impression": " ", "patient_id": "p9"},  # no reference
    ]
    manifest = write_manifest(tmp_path, extra_rows=bad)
    shutil.copyfile(tmp_path / "images" / "img0.png", tmp_path / "images" / "img0-copy.png")
    out = tmp_path / "run"
    args = ["generate", "--reporter", "findings-composer", "--manifest", str(manifest), "--out", str(out)]
    result = runner.invoke(app, [*args, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "6 scored, 2 skipped" in result.output
    data = json.loads((out / "scores.json").read_text())
    assert set(data["text_metrics"]["corpus"]) == {"BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert data["unavailable"] == {}
    assert len(data["clinical_efficacy"]["CheXpert 14"]["per_finding"]) == 14
    assert len(data["clinical_efficacy"]["CheXpert 5"]["per_finding"]) == 5
    assert data["headline"]["macro_f1_14"] == data["clinical_efficacy"]["CheXpert 14"]["macro"]["f1"]
    skipped = {s["line"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {8, 9}
    assert "missing.png" in skipped[8] and skipped[9] == "empty reference report"
    assert data["inputs"]["reporter"] == "findings-composer"
    drafts = read_drafts(out)
    assert len(drafts) == 6 and {d.reporter for d in drafts.values()} == {"findings-composer"}
    page = (out / "scores.html").read_text()
    assert page.startswith("<!doctype html>") and "Clinical efficacy, CheXpert 14" in page
    assert "## Sample: 6 reference and draft side by side" in (out / "scores.md").read_text()


def test_tiny_random_janus_end_to_end(tmp_path: Path, tiny_janus_dir: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_janus_dir, models / "janus-pro-cxr-final")
    manifest = write_manifest(tmp_path, n=3)
    out = tmp_path / "run"
    args = ["generate", "--reporter", "janus-pro-cxr-final", "--manifest", str(manifest), "--out", str(out)]
    options = ["--models-dir", str(models), "--device", "cpu", "--precision", "float32", "--max-new-tokens", "6"]
    options += ["--batch-size", "2", "--classifier", "fake-classifier", "--metrics", ",".join(NO_METEOR)]
    result = runner.invoke(app, [*args, *options])
    assert result.exit_code == 0, result.output
    drafts = read_drafts(out)
    assert len(drafts) == 3 and {d.reporter for d in drafts.values()} == {"janus-pro-cxr-final"}
    data = json.loads((out / "scores.json").read_text())
    assert data["counts"]["scored"] == 3 and data["inputs"]["classifier"] == "fake-classifier"


def test_resume_after_a_kill_equals_one_run_and_redoes_no_done_row(tmp_path: Path) -> None:
    manifest = read_report_manifest(write_manifest(tmp_path, n=7))
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    options = {"classifier": "fake-classifier", "batch_size": 3, "run_info": {"classifier": "fake-classifier"}}
    one_run = run_generate(manifest, whole, reporter=FindingsComposer(), metrics=NO_METEOR, **options)

    with pytest.raises(KeyboardInterrupt):  # killed while drafting the second batch
        generate_drafts(manifest, resumed, reporter=CountingComposer(fail_at=5), **options)
    assert len(read_drafts(resumed)) == 3  # the first batch survived, the one in flight is lost
    with (resumed / DRAFTS_FILE).open("a") as handle:
        handle.write('{"case_id": "images/img3.png", "li')  # a line cut short by the kill
    second = CountingComposer()
    again = run_generate(manifest, resumed, reporter=second, metrics=NO_METEOR, **options)
    assert second.calls == 4  # only the rows not yet drafted
    assert again["counts"] == one_run["counts"] | {"drafted_before": 3, "drafted_now": 4}
    assert again["headline"] == one_run["headline"]
    assert read_drafts(resumed) == read_drafts(whole)
    third = CountingComposer()
    run_generate(manifest, resumed, reporter=third, metrics=NO_METEOR, **options)
    assert third.calls == 0


def test_a_rerun_with_another_reporter_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    manifest = read_report_manifest(write_manifest(tmp_path, n=2))
    generate_drafts(manifest, tmp_path / "run", reporter=FindingsComposer(), classifier="fake-classifier")
    other = CopyingReporter({})
    with pytest.raises(Exception, match="reporter is 'findings-composer'; this run asks for 'copy-reference'"):
        generate_drafts(manifest, tmp_path / "run", reporter=other, classifier="fake-classifier")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty-image.csv", "image,report\na.png,No effusion.\n,Clear lungs.\n", r"line 3, column 'image' is empty"),
        ("repeat.csv", "id,image,report\ns1,a.png,Clear.\ns1,b.png,Clear.\n", r"line 3 repeats id 's1' of line 2"),
        (
            "no-report.csv",
            "image,patient_id\na.png,p1\n",
            r"missing column\(s\) report \(text\) or findings/impression",
        ),
        ("no-image.csv", "report\nClear.\n", r"missing column\(s\) image \(image_path, path\)"),
        ("broken.jsonl", '{"image": "a.png", "report": "Clear."}\n{"image": "b.png", \n', r"line 2 is not JSON"),
        ("missing.jsonl", '{"image": "a.png", "report": "Clear."}\n{"report": "Clear."}\n', r"line 2, column 'image'"),
        ("split.csv", "image,report,split\na.png,Clear.,holdout\n", r"line 2, split 'holdout'; expected train"),
        ("extra.csv", "image,report\na.png,Clear.,cut, here\n", r"line 2 has 4 cells, more than the 2 header"),
        ("quoted.csv", 'image,report\na.png,"Clear\nlungs."\n,Clear.\n', r"line 4, column 'image' is empty"),
    ],
)
def test_a_malformed_manifest_names_the_row(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_report_manifest(path)


def test_manifest_reads_free_text_sections_ids_and_splits(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rows = [
        {"ID": "s1", "Image": "a.png", "Report": "FINDINGS: Clear lungs. IMPRESSION: Normal.", "split": "test"},
        {"ID": "s2", "Image": "/abs/b.png", "Report": "Small effusion.", "split": "train"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (row,) = read_report_manifest(path, split="test").rows
    assert (row.case_id, row.image, row.findings, row.impression) == (
        "s1",
        tmp_path / "a.png",
        "Clear lungs.",
        "Normal.",
    )
    assert read_report_manifest(path).rows[1].image == Path("/abs/b.png")
    with pytest.raises(ManifestError, match="no rows with split 'valid'"):
        read_report_manifest(path, split="valid")


def test_the_pages_escape_report_text(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script> Effusion | & <b>bold</b>"
    manifest = read_report_manifest(write_manifest(tmp_path, n=2, references=[hostile]))
    result = run_generate(
        manifest, tmp_path / "run", reporter=FindingsComposer(), classifier="fake-classifier", metrics=NO_METEOR
    )
    assert result["counts"]["scored"] == 2
    page = (tmp_path / "run" / "scores.html").read_text()
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Effusion | &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    markdown = (tmp_path / "run" / "scores.md").read_text()
    assert "<script>" not in markdown and "Effusion \\| &amp;" in markdown


def test_paired_bootstrap_separates_a_copying_reporter_and_not_a_reporter_from_itself(tmp_path: Path) -> None:
    manifest = read_report_manifest(write_manifest(tmp_path, n=8))
    copier = CopyingReporter({str(row.image): row.findings for row in manifest.rows})
    perfect, composer = tmp_path / "copy", tmp_path / "composer"
    generate_drafts(manifest, perfect, reporter=copier, classifier="fake-classifier", batch_size=4)
    run_generate(manifest, composer, reporter=FindingsComposer(), classifier="fake-classifier", metrics=NO_METEOR)

    result = runner.invoke(app, ["compare", str(perfect), str(composer), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())["comparison"]
    assert (data["reporter_a"], data["reporter_b"]) == ("copy-reference", "findings-composer")
    assert data["resampled"] == "patients" and data["n_groups"] == 4 and data["n_reports"] == 8
    rows = {d["metric"]: d for d in data["differences"]}
    for metric in ("BLEU_1", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr"):
        assert rows[metric]["excludes_zero"] and rows[metric]["ci"][0] > 0, metric
    assert rows["BLEU_4"]["a"] == pytest.approx(1.0) and rows["ROUGE_L"]["a"] == pytest.approx(1.0)
    assert rows["macro_f1_14"]["a"] >= rows["macro_f1_14"]["b"]
    # with every weight 1 the bootstrap's statistics are the scores eval generate reports
    scores = json.loads((composer / "scores.json").read_text())
    for metric in ("BLEU_1", "BLEU_4", "ROUGE_L", "CIDEr", "macro_f1_14", "micro_f1_5"):
        assert rows[metric]["b"] == pytest.approx(scores["headline"][metric], abs=1e-9), metric

    itself = compare_runs(composer, composer, n_boot=200, metrics=NO_METEOR)
    for d in itself.differences:
        assert d.difference == 0.0 and d.ci[0] <= 0.0 <= d.ci[1] and not d.excludes_zero, d.metric
