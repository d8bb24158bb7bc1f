"""Composing a FINDINGS / IMPRESSION draft from the classifier's findings.

A normal study reads as a normal report. Each flagged finding is stated once, most critical
first, with its side when the heatmap shows one; :func:`certainty` decides whether it reads as
present or "possible". Lung opacity, consolidation and pneumonia overlap and share one
sentence. Negative statements cover only findings the classifier assessed and did not flag,
and never one that a flagged finding implies; findings it does not assess are never declared
absent, and the last FINDINGS sentence names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from januscxr.labels import CHEXPERT_14, Finding, sort_by_urgency
from januscxr.report import phrases
from januscxr.types import DraftReport, FindingResult, Image, Laterality

REPORTER_NAME = "findings-composer"


class Certainty(IntEnum):
    """How a draft states one assessed finding; ordered, so ``max`` gives the surer."""

    ABSENT = 0
    POSSIBLE = 1
    PRESENT = 2


def certainty(result: FindingResult) -> Certainty:
    """The one place the composer draws its bands: not flagged, "possible", or present.

    Examples
    --------
    >>> from januscxr.types import FindingResult
    >>> certainty(FindingResult(Finding.PNEUMONIA, 0.4, 0.3)).name
    'POSSIBLE'
    """
    if not result.flagged:
        return Certainty.ABSENT
    return Certainty.POSSIBLE if result.uncertain else Certainty.PRESENT


class FindingsComposer:
    """The bundled :class:`~januscxr.models.base.Reporter`: text from findings alone."""

    name = REPORTER_NAME

    def draft(self, image: Image, findings: Mapping[Finding, FindingResult]) -> DraftReport:
        return compose_report(findings)


@dataclass(frozen=True)
class _Statement:
    """One flagged finding, or one group of overlapping ones, in both sections."""

    lead: Finding  # the most urgent finding it states; orders the draft
    sentence: str
    impression: str


def compose_report(findings: Mapping[Finding, FindingResult]) -> DraftReport:
    """Draft FINDINGS and IMPRESSION from per-finding results.

    Parameters
    ----------
    findings
        The classifier's results, one per finding it assesses; a finding absent from the
        mapping is unassessed and is named as such, never declared absent.

    Returns
    -------
    DraftReport
        FINDINGS: flagged findings, negatives, then the findings not assessed. IMPRESSION:
        one numbered line per statement, or a normal impression.
    """
    states: dict[Finding, Certainty] = {f: certainty(r) for f, r in findings.items() if f is not Finding.NO_FINDING}
    statements = _statements(findings, states)
    sentences = [s.sentence for s in statements] + _negative_sentences(states) + _not_assessed_sentences(states)
    return DraftReport(findings=" ".join(sentences), impression=_impression(statements, states), reporter=REPORTER_NAME)


def _statements(findings: Mapping[Finding, FindingResult], states: Mapping[Finding, Certainty]) -> list[_Statement]:
    statements = [
        _single_statement(findings[f], level)
        for f, level in states.items()
        if level is not Certainty.ABSENT and f not in phrases.AIRSPACE_FINDINGS
    ]
    airspace = _airspace_statement(findings, states)
    if airspace is not None:
        statements.append(airspace)
    order = sort_by_urgency([s.lead for s in statements])
    return sorted(statements, key=lambda s: order.index(s.lead))


def _single_statement(result: FindingResult, level: Certainty) -> _Statement:
    side = _side(result.laterality)
    table = phrases.POSSIBLE_SENTENCES if level is Certainty.POSSIBLE else phrases.FINDING_SENTENCES
    impression = phrases.IMPRESSION_PHRASES[result.finding].format(side=side)
    if level is Certainty.POSSIBLE:
        impression = f"possible {impression}"
    return _Statement(result.finding, table[result.finding].format(side=side), _capital(impression))


def _airspace_statement(
    findings: Mapping[Finding, FindingResult], states: Mapping[Finding, Certainty]
) -> _Statement | None:
    """Lung opacity, consolidation and pneumonia as one sentence: description, then diagnosis."""
    pneumonia, consolidation, opacity = (states.get(f, Certainty.ABSENT) for f in phrases.AIRSPACE_FINDINGS)
    members = [f for f in phrases.AIRSPACE_FINDINGS if states.get(f, Certainty.ABSENT) is not Certainty.ABSENT]
    if not members:
        return None
    side = _side(_shared_laterality([findings[f] for f in members]))
    if opacity is not Certainty.ABSENT:  # a consolidation or a pneumonia is an opacity, no less sure
        opacity = max(opacity, consolidation, pneumonia)
    description, level = _airspace_description(opacity, consolidation)
    if level < pneumonia:  # pneumonia alone, or surer than a possible consolidation: it leads
        sentence, impression = _pneumonia_first(pneumonia, with_consolidation=level is not Certainty.ABSENT)
    else:
        sentence, impression = _description_first(description, level, pneumonia)
    lead = sort_by_urgency(members)[0]
    return _Statement(lead, _capital(sentence.format(side=side)) + ".", _capital(impression.format(side=side)))


def _pneumonia_first(pneumonia: Certainty, *, with_consolidation: bool) -> tuple[str, str]:
    """Sentence and impression templates led by pneumonia; a possible consolidation follows."""
    present = pneumonia is Certainty.PRESENT
    sentence = phrases.PNEUMONIA_ALONE if present else phrases.POSSIBLE_PNEUMONIA_ALONE
    impression = phrases.PNEUMONIA_ALONE_IMPRESSION if present else phrases.POSSIBLE_PNEUMONIA_ALONE
    if with_consolidation:
        return sentence + phrases.THEN_POSSIBLE_CONSOLIDATION, impression + phrases.THEN_POSSIBLE_CONSOLIDATION
    return sentence, impression


def _description_first(description: str, level: Certainty, pneumonia: Certainty) -> tuple[str, str]:
    """Sentence and impression templates led by the opacity or consolidation; pneumonia follows."""
    if level is Certainty.PRESENT:
        sentence, impression = phrases.PRESENT_DESCRIPTION.format(description=description), description
    else:
        sentence = impression = phrases.POSSIBLE_DESCRIPTION.format(description=description)
    if pneumonia is Certainty.PRESENT:
        return sentence + phrases.PNEUMONIA_AFTER, impression + phrases.PNEUMONIA_AFTER_IMPRESSION
    if pneumonia is Certainty.POSSIBLE:
        return sentence + phrases.POSSIBLE_PNEUMONIA_AFTER, impression + phrases.POSSIBLE_PNEUMONIA_AFTER_IMPRESSION
    return sentence, impression


def _airspace_description(opacity: Certainty, consolidation: Certainty) -> tuple[str, Certainty]:
    """The descriptive part of the airspace sentence and how surely it is stated."""
    if opacity is Certainty.ABSENT:
        return phrases.CONSOLIDATION, consolidation
    if consolidation is Certainty.PRESENT:
        return phrases.OPACITY + phrases.WITH_CONSOLIDATION, opacity
    if consolidation is Certainty.POSSIBLE:
        joined = phrases.WITH_POSSIBLE_CONSOLIDATION if opacity is Certainty.PRESENT else phrases.OR_CONSOLIDATION
        return phrases.OPACITY + joined, opacity
    return phrases.OPACITY, opacity


def _negative_sentences(states: Mapping[Finding, Certainty]) -> list[str]:
    flagged = {f for f, level in states.items() if level is not Certainty.ABSENT}
    denied = {
        f
        for f, level in states.items()
        if level is Certainty.ABSENT and not phrases.NOT_DENIED_BESIDE.get(f, frozenset()) & flagged
    }
    sentences = []
    for group in phrases.NEGATIVE_GROUPS:
        names = [phrases.NEGATIVE_NAMES[f] for f in group if f in denied]
        if names:
            sentences.append(f"No {_join(names)}.")
    heart, mediastinum = states.get(Finding.CARDIOMEGALY), states.get(Finding.ENLARGED_CARDIOMEDIASTINUM)
    if heart is Certainty.ABSENT and mediastinum is Certainty.ABSENT:
        sentences.append(phrases.NORMAL_CARDIOMEDIASTINUM)
    elif heart is Certainty.ABSENT:
        sentences.append(phrases.NORMAL_HEART)
    elif mediastinum is Certainty.ABSENT:
        sentences.append(phrases.NORMAL_MEDIASTINUM)
    return sentences


def _not_assessed_sentences(states: Mapping[Finding, Certainty]) -> list[str]:
    """Name the findings the classifier does not score, a short list per sentence."""
    missing = sort_by_urgency([f for f in CHEXPERT_14 if f is not Finding.NO_FINDING and f not in states])
    lists: list[list[str]] = []
    for name in (name for f in missing for name in phrases.NOT_ASSESSED_NAMES[f]):
        # Appended last, the name follows every word of the list so far and an "or".
        if lists and sum(len(n.split()) for n in lists[-1]) + 1 <= phrases.NOT_ASSESSED_LIST_WORDS:
            lists[-1].append(name)
        else:
            lists.append([name])
    return [
        (phrases.NOT_ASSESSED_MORE if number else phrases.NOT_ASSESSED).format(names=_join(names))
        for number, names in enumerate(lists)
    ]


def _impression(statements: list[_Statement], states: Mapping[Finding, Certainty]) -> str:
    if statements:
        return "\n".join(f"{number}. {s.impression}." for number, s in enumerate(statements, start=1))
    complete = all(f in states for f in CHEXPERT_14 if f is not Finding.NO_FINDING)
    return phrases.NORMAL_IMPRESSION if complete else phrases.NORMAL_ASSESSED_IMPRESSION


def _shared_laterality(results: list[FindingResult]) -> Laterality | None:
    """The side the results agree on; none when they disagree."""
    sides = {r.laterality for r in results if r.laterality is not None}
    return sides.pop() if len(sides) == 1 else None


def _side(laterality: Laterality | None) -> str:
    return "" if laterality is None else f"{laterality.value} "


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
