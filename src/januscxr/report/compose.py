"""Composing a FINDINGS / IMPRESSION draft from the classifier's findings.

A normal study reads as a normal report. Each flagged finding gets one sentence, most
critical first, with its side when the heatmap shows one; flagged findings in the
uncertain band read as "possible". Negative statements cover only findings the
classifier assessed: a finding it cannot score is never declared absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from januscxr.labels import Finding, sort_by_urgency
from januscxr.report.phrases import (
    FINDING_SENTENCES,
    IMPRESSION_PHRASES,
    LUNG_FINDINGS,
    NEGATIVE_NAMES,
    NORMAL_HEART,
    NORMAL_IMPRESSION,
    NORMAL_MEDIASTINUM,
    PLEURAL_FINDINGS,
    POSSIBLE_SENTENCES,
)
from januscxr.types import DraftReport, FindingResult, Image

REPORTER_NAME = "findings-composer"


class FindingsComposer:
    """The bundled :class:`~januscxr.models.base.Reporter`: text from findings alone."""

    name = REPORTER_NAME

    def draft(self, image: Image, findings: Mapping[Finding, FindingResult]) -> DraftReport:
        return compose_report(findings)


def compose_report(findings: Mapping[Finding, FindingResult]) -> DraftReport:
    """Draft FINDINGS and IMPRESSION from per-finding results."""
    flagged = [findings[f] for f in sort_by_urgency([f for f, r in findings.items() if r.flagged])]
    sentences = [_finding_sentence(result) for result in flagged]
    sentences += _negative_sentences(findings)
    impression = _impression(flagged)
    return DraftReport(findings=" ".join(sentences), impression=impression, reporter=REPORTER_NAME)


def _side(result: FindingResult, capital: bool = False) -> str:
    if result.laterality is None:
        return ""
    word = result.laterality.value
    return (word.capitalize() if capital else word) + " "


def _finding_sentence(result: FindingResult) -> str:
    table = POSSIBLE_SENTENCES if result.uncertain else FINDING_SENTENCES
    return table[result.finding].format(side=_side(result))


def _negative_sentences(findings: Mapping[Finding, FindingResult]) -> list[str]:
    sentences = []
    for group in (LUNG_FINDINGS, PLEURAL_FINDINGS):
        absent = [NEGATIVE_NAMES[f] for f in group if f in findings and not findings[f].flagged]
        if absent:
            sentences.append(f"No {_join(absent)}.")
    if Finding.CARDIOMEGALY in findings and not findings[Finding.CARDIOMEGALY].flagged:
        widened = findings.get(Finding.ENLARGED_CARDIOMEDIASTINUM)
        sentences.append(NORMAL_HEART if widened is not None and widened.flagged else NORMAL_MEDIASTINUM)
    return sentences


def _impression(flagged: list[FindingResult]) -> str:
    if not flagged:
        return NORMAL_IMPRESSION
    lines = []
    for number, result in enumerate(flagged, start=1):
        phrase = IMPRESSION_PHRASES[result.finding].format(Side=_side(result, capital=True))
        phrase = phrase[0].upper() + phrase[1:]
        if result.uncertain:
            phrase = f"Possible {phrase[0].lower()}{phrase[1:]}"
        lines.append(f"{number}. {phrase}.")
    return "\n".join(lines)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
