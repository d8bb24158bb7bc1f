"""Splitting a model's answer into FINDINGS and IMPRESSION."""

from __future__ import annotations

from januscxr.report.parse import parse_report, parse_sections


def test_the_janus_pro_cxr_one_line_answer():
    text = (
        "FINDINGS: postoperative changes in the right lung. The cardiac silhouette appears normal. "
        "IMPRESSION: 1. Postoperative status of the right lung. 2. Small bilateral pleural effusions."
    )
    findings, impression = parse_sections(text)
    assert findings == "postoperative changes in the right lung. The cardiac silhouette appears normal."
    assert impression == "1. Postoperative status of the right lung.\n2. Small bilateral pleural effusions."


def test_bold_headings_singular_and_impression_first():
    findings, impression = parse_sections("**Impression:** No acute process.\n\n**Finding:** Lungs are clear.")
    assert (findings, impression) == ("Lungs are clear.", "No acute process.")


def test_text_without_headings_counts_as_findings():
    assert parse_sections("The lungs are clear.") == ("The lungs are clear.", "")


def test_measurements_are_not_split_as_numbered_items():
    _, impression = parse_sections("FINDINGS: x IMPRESSION: 1. Nodule of 1.5 cm. 2. No effusion.")
    assert impression == "1. Nodule of 1.5 cm.\n2. No effusion."


def test_draft_report_carries_the_reporter():
    report = parse_report("FINDINGS: Clear. IMPRESSION: Normal.", "janus-pro-cxr-final")
    assert report.text == "FINDINGS:\nClear.\n\nIMPRESSION:\nNormal." and report.reporter == "janus-pro-cxr-final"
