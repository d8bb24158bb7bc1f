"""Reporter training data: report cleaning, manifests, the MIMIC-CXR and CheXpert Plus layouts, the loss mask."""

from __future__ import annotations

import gzip
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from januscxr.errors import ManifestError
from januscxr.eval.report_manifest import read_report_manifest as read_eval_manifest
from januscxr.eval.report_manifest import report_sections
from januscxr.labels import Finding
from januscxr.report.prompt import build_prompt
from januscxr.training.report_sources import chexpert_plus_rows, mimic_cxr_rows
from januscxr.training.report_text import answer_from_report, clean_section
from januscxr.training.reporter_data import IGNORE_INDEX, collate, encode_example, expert_hint, keeps_hint
from januscxr.training.reporter_manifest import (
    ReportExample,
    read_training_manifest,
    split_by_patient,
    write_report_manifest,
)
from tests.training.reporter_fixtures import REPORTS, write_pairs, write_png

MIMIC_REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough  // eval for pneumonia

 COMPARISON:  None.

 FINDINGS:

 There is a small right pleural effusion.   The heart size is normal.
 Dr. ___ was notified at ___ by phone.

 IMPRESSION:

 Small right pleural effusion.
"""


def test_sections_are_extracted_cleaned_and_placeholder_sentences_dropped() -> None:
    findings, impression = report_sections(MIMIC_REPORT)
    assert "INDICATION" not in findings and "cough" not in findings
    assert clean_section(findings) == "There is a small right pleural effusion. The heart size is normal."
    assert clean_section(impression) == "Small right pleural effusion."
    assert "Dr. ___ was notified at ___ by phone." in clean_section(findings, placeholders="keep")
    assert answer_from_report(report=MIMIC_REPORT) == (
        "FINDINGS: There is a small right pleural effusion. The heart size is normal. "
        "IMPRESSION: Small right pleural effusion."
    )
    assert answer_from_report(findings="  Clear\n lungs. ", impression="") == "FINDINGS: Clear lungs."
    assert answer_from_report(report="No acute process.") == "FINDINGS: No acute process."


def test_bad_rows_are_reported_by_row_and_skipped_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_png(tmp_path / "a.png", 0)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "image,patient_id,findings,impression\n"
        "a.png,p1,Clear lungs.,Normal.\n"
        "missing.png,p2,Clear lungs.,Normal.\n"
        "a.png,p3,,\n"
        "a.png,p4,Dr. ___ was paged.,\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        read = read_training_manifest(manifest)
    assert [e.line for e in read.examples] == [2]  # file lines: the header is line 1
    assert [(s.line, s.reason.split()[0]) for s in read.skipped] == [(3, "image"), (4, "empty"), (5, "empty")]
    assert "line 3 skipped" in caplog.text and "3 of 4 rows skipped" in caplog.text


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("m.csv", "image,report\na.png,Clear.\n", "missing column(s) patient_id"),
        ("m.csv", "image,patient_id,report\na.png,p1,Clear.\na.png,,Clear.\n", "line 3, column 'patient_id' is empty"),
        ("m.csv", "image,patient_id,report,split\na.png,p1,Clear.,holdout\n", "line 2, split 'holdout'"),
        ("m.csv", "image,patient_id,report\na.png,p1,Clear.,extra\n", "line 2 has 4 cells, more than the 3"),
        ("m.csv", 'image,patient_id,report\na.png,p1,"Clear\nlungs."\nb.png,,x\n', "line 4, column 'patient_id'"),
        (
            "m.jsonl",
            '{"image": "a.png", "patient_id": "p", "report": "Clear."}\n\n{"image": \n',
            "line 3 is not JSON",
        ),
    ],
)
def test_a_malformed_manifest_names_the_row(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_training_manifest(tmp_path / name, check_images=False)


def test_jsonl_and_csv_manifests_read_alike(tmp_path: Path) -> None:
    rows = [{"image": "a.png", "patient_id": "p1", "report": MIMIC_REPORT, "split": "validate"}]
    write_report_manifest(rows, tmp_path / "m.jsonl")
    write_report_manifest(rows, tmp_path / "m.csv")
    from_json = read_training_manifest(tmp_path / "m.jsonl", check_images=False).examples
    from_csv = read_training_manifest(tmp_path / "m.csv", check_images=False).examples
    assert [(e.line, replace(e, line=0)) for e in from_json] == [(1, replace(from_csv[0], line=0))]
    assert from_csv[0].line == 2  # a CSV's header is line 1, a JSONL file has none
    assert from_csv[0].split == "valid" and from_csv[0].answer.startswith("FINDINGS: There is a small")


def test_training_and_eval_read_one_manifest_alike(tmp_path: Path) -> None:
    """One reader: the same columns, aliases, sections and file-line numbers for both commands."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "Image,Subject_ID,Report,Split\n"
        'a.png,p1,"INDICATION: cough.\nFINDINGS: Small effusion. Dr. ___ paged.\nIMPRESSION: Effusion.",validate\n'
        "\n"
        "b.png,p2,Clear lungs.,test\n",
        encoding="utf-8",
    )
    rows = read_eval_manifest(manifest).rows
    assert [(r.line, r.findings, r.impression, r.patient_id, r.split) for r in rows] == [
        (2, "Small effusion. Dr. ___ paged.", "Effusion.", "p1", "valid"),  # eval scores references as given
        (6, "Clear lungs.", "", "p2", "test"),
    ]
    examples = read_training_manifest(manifest, check_images=False).examples
    assert [(e.line, e.patient_id, e.split, e.answer) for e in examples] == [
        (2, "p1", "valid", "FINDINGS: Small effusion. IMPRESSION: Effusion."),  # training drops placeholder sentences
        (6, "p2", "test", "FINDINGS: Clear lungs."),
    ]


def test_the_split_keeps_each_patient_in_one_side() -> None:
    examples = [ReportExample(i, Path(f"{i}.png"), "FINDINGS: x.", f"p{i % 10}") for i in range(60)]
    examples.append(ReportExample(99, Path("t.png"), "FINDINGS: x.", "p0", split="test"))
    split = split_by_patient(examples, 0.2, seed=3)
    sides = {(e.patient_id, e.split) for e in split if e.split != "test"}
    assert len({p for p, _ in sides}) == len(sides) == 10
    assert sum(s == "valid" for _, s in sides) == 2
    assert split[-1].split == "test"


def test_mimic_cxr_jpg_layout(tmp_path: Path) -> None:
    jpg, reports = tmp_path / "mimic-cxr-jpg", tmp_path / "mimic-cxr"
    metadata = "dicom_id,subject_id,study_id,ViewPosition\nd1,10000032,50414267,PA\nd2,10000032,50414267,LATERAL\nd3,11000011,51000001,AP\n"
    (jpg).mkdir()
    (jpg / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress(metadata.encode()))
    (jpg / "mimic-cxr-2.0.0-split.csv").write_text(
        "dicom_id,study_id,subject_id,split\nd1,50414267,10000032,train\nd3,51000001,11000011,validate\n"
    )
    write_png(jpg / "files/p10/p10000032/s50414267/d1.jpg", 1)
    write_png(jpg / "files/p11/p11000011/s51000001/d3.jpg", 3)
    (reports / "files/p10/p10000032").mkdir(parents=True)
    (reports / "files/p10/p10000032/s50414267.txt").write_text(MIMIC_REPORT)
    rows = mimic_cxr_rows(jpg, reports)
    assert [(Path(r["image"]).name, r["split"]) for r in rows] == [("d1.jpg", "train"), ("d3.jpg", "validate")]
    write_report_manifest(rows, tmp_path / "m.csv")
    read = read_training_manifest(tmp_path / "m.csv")
    assert [(e.patient_id, e.split) for e in read.examples] == [("mimic:10000032", "train")]
    second = 2 + MIMIC_REPORT.count("\n") + 1  # the first row's quoted report spans lines 2 to 17
    assert [(s.line, s.reason.split()[0]) for s in read.skipped] == [(second, "empty")]  # its report file is missing


def test_chexpert_plus_layout(tmp_path: Path) -> None:
    table = (
        "path_to_image,frontal_lateral,deid_patient_id,section_findings,section_impression,report,split\n"
        'train/patient1/study1/view1_frontal.jpg,Frontal,patient1,Clear lungs.,"1. No acute disease.",,train\n'
        "train/patient1/study1/view2_lateral.jpg,Lateral,patient1,Clear lungs.,,,train\n"
        'valid/patient2/study1/view1_frontal.jpg,Frontal,patient2,,,"IMPRESSION: Small effusion.",valid\n'
    )
    (tmp_path / "df_chexpert_plus_240401.csv").write_text(table)
    write_png(tmp_path / "PNG/train/patient1/study1/view1_frontal.png", 1)
    write_png(tmp_path / "valid/patient2/study1/view1_frontal.jpg", 2)
    rows = chexpert_plus_rows(tmp_path)
    write_report_manifest(rows, tmp_path / "m.jsonl")
    examples = read_training_manifest(tmp_path / "m.jsonl").examples
    assert [e.answer for e in examples] == [
        "FINDINGS: Clear lungs. IMPRESSION: 1. No acute disease.",
        "IMPRESSION: Small effusion.",
    ]
    assert examples[0].image.suffix == ".png" and examples[1].split == "valid"


def test_the_prompt_is_the_inference_prompt_and_labels_mask_it(tiny_janus, tmp_path: Path) -> None:
    example = read_training_manifest(write_pairs(tmp_path)).examples[1]
    hint = expert_hint(example.answer)
    assert hint == [Finding.PLEURAL_EFFUSION]
    encoded = encode_example(tiny_janus, example, hint)
    prompt = tiny_janus.encode_prompt(build_prompt(expert_findings=hint))
    assert encoded.input_ids[: len(prompt)] == prompt
    assert encoded.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    answer = encoded.input_ids[len(prompt) :]
    assert encoded.labels[len(prompt) :] == answer and answer[-1] == tiny_janus.tokenizer.eos_id
    assert tiny_janus.tokenizer.decode(answer).strip() == REPORTS[1]
    short = encode_example(tiny_janus, example, [])
    batch = collate(tiny_janus, [encoded, short], [tiny_janus_image(), tiny_janus_image()])
    assert batch.answer_tokens == 2 * len(answer)  # padding is masked too
    assert (batch.labels[1, len(short.input_ids) :] == IGNORE_INDEX).all()


def tiny_janus_image():
    from tests.conftest import random_image

    return random_image(0, (64, 64))


def test_the_hint_draw_is_seeded_and_about_the_share() -> None:
    draws = [keeps_hint(seed=0, epoch=1, row=r, share_without_hint=0.2) for r in range(2000)]
    assert draws == [keeps_hint(seed=0, epoch=1, row=r, share_without_hint=0.2) for r in range(2000)]
    assert 0.17 < 1 - sum(draws) / len(draws) < 0.23
