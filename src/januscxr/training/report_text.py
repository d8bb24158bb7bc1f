"""Report text for training a reporter: cleaning, the answer the model learns.

Radiology reports arrive as free text with headings (MIMIC-CXR's ``FINDINGS:`` and
``IMPRESSION:`` among ``EXAMINATION:``, ``INDICATION:``, ``COMPARISON:``...), split into sections by
:func:`januscxr.eval.report_manifest.report_sections` as for evaluation, or already split into
sections (CheXpert Plus). The model learns the answer Janus-Pro-CXR writes and
:func:`januscxr.report.parse.parse_sections` reads back: ``FINDINGS: ... IMPRESSION: ...`` on one
line. Cleaning joins lines, collapses whitespace and, by default, drops the sentences that hold an
anonymisation placeholder (MIMIC-CXR's ``___``, IU-Xray's ``XXXX``): they are mostly about who was
told what and when, and a model trained on them learns to write the placeholder.
"""

from __future__ import annotations

import re
from enum import StrEnum

from januscxr.eval.report_manifest import report_sections

PLACEHOLDER = re.compile(r"_{2,}|\bX{4,}\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_TITLE = re.compile(r"\b(?:Dr|Drs|Mr|Mrs|Ms|Prof)\.$")


class Placeholders(StrEnum):
    """What to do with a sentence that holds an anonymisation placeholder."""

    DROP = "drop"  # leave the sentence out (default)
    KEEP = "keep"  # keep it, with the placeholder written as ``___``


def clean_section(text: str, *, placeholders: Placeholders | str = Placeholders.DROP) -> str:
    """One line: whitespace collapsed, placeholders dropped with their sentence or written ``___``."""
    flat = re.sub(r"\s+", " ", text).strip()
    if Placeholders(placeholders) is Placeholders.KEEP:
        return PLACEHOLDER.sub("___", flat)
    kept = [sentence for sentence in sentences(flat) if not PLACEHOLDER.search(sentence)]
    return " ".join(kept).strip()


def sentences(text: str) -> list[str]:
    """Sentences of one line of text; a title such as ``Dr.`` does not end one."""
    merged: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if merged and _TITLE.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def format_answer(findings: str, impression: str) -> str:
    """``FINDINGS: ... IMPRESSION: ...``, leaving out a section that is empty."""
    parts = [f"{name}: {body}" for name, body in (("FINDINGS", findings), ("IMPRESSION", impression)) if body]
    return " ".join(parts)


def answer_from_report(
    *,
    report: str = "",
    findings: str = "",
    impression: str = "",
    placeholders: Placeholders | str = Placeholders.DROP,
) -> str:
    """The cleaned answer from either a free-text ``report`` or its two sections; "" when nothing is left."""
    if report.strip() and not (findings.strip() or impression.strip()):
        findings, impression = report_sections(report)
    return format_answer(
        clean_section(findings, placeholders=placeholders), clean_section(impression, placeholders=placeholders)
    )
