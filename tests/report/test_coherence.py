"""Coherent drafts: every combination of findings, composed and read back by the labeler.

For each combination of absent, possible and present findings the draft is labelled one
sentence (or impression line) at a time, and must not state a finding and its negation, must
state each flagged finding exactly once per section with the certainty it was flagged with,
must not assert what the classifier did not flag, must say nothing of findings the classifier
does not assess except to name them as not assessed, and must keep them out of IMPRESSION.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping

import pytest

from januscxr.consistency import find_discordances
from januscxr.labeler import Mention, label_report
from januscxr.labeler.sentences import split_sentences
from januscxr.labels import CHEXPERT_14, LATERALIZABLE, Finding
from januscxr.models.registry import DEFAULT_CLASSIFIER, get_classifier_spec
from januscxr.report.compose import Certainty, certainty, compose_report
from januscxr.report.phrases import NOT_ASSESSED_NAMES
from januscxr.types import DraftReport, FindingResult, Laterality

THRESHOLD = 0.3
PROBABILITY = {Certainty.ABSENT: 0.1, Certainty.POSSIBLE: 0.4, Certainty.PRESENT: 0.8}
STATES = tuple(Certainty)
SIDES = (None, *Laterality)
OBSERVATIONS = tuple(f for f in CHEXPERT_14 if f is not Finding.NO_FINDING)  # the 13 a draft states
BUNDLED = get_classifier_spec(DEFAULT_CLASSIFIER).labels
AIRSPACE = (Finding.PNEUMONIA, Finding.CONSOLIDATION, Finding.LUNG_OPACITY)
NOT_ASSESSED_MARK = "not designed for detection of"
EXPECTED_MENTION = {Certainty.POSSIBLE: Mention.UNCERTAIN, Certainty.PRESENT: Mention.POSITIVE}

Sentences = list[tuple[str, dict[Finding, Mention]]]


def _results(
    states: Mapping[Finding, Certainty], side: Laterality | None = None, *, no_finding: bool = False
) -> dict[Finding, FindingResult]:
    """Classifier results in the given states; flagged lateralizable findings on ``side``."""
    results = {
        f: FindingResult(
            f,
            PROBABILITY[state],
            THRESHOLD,
            laterality=side if state is not Certainty.ABSENT and f in LATERALIZABLE else None,
        )
        for f, state in states.items()
    }
    if no_finding:  # a 14-label classifier also scores "No Finding"; the draft ignores it
        normal = all(state is Certainty.ABSENT for state in states.values())
        results[Finding.NO_FINDING] = FindingResult(Finding.NO_FINDING, 0.9 if normal else 0.05, 0.5)
    return results


def _labelled(lines: list[str]) -> Sentences:
    """Each line's sentences with the labeler's non-blank mentions of the 13 observations."""
    sentences: Sentences = []
    for line in lines:
        for start, end in split_sentences(line):
            labels = label_report(line[start:end])
            said = {f: labels.mention(f) for f in OBSERVATIONS if labels.mention(f) is not Mention.NOT_MENTIONED}
            sentences.append((line[start:end], said))
    return sentences


def _expected_mention(finding: Finding, states: Mapping[Finding, Certainty]) -> Mention:
    level = states[finding]
    if finding is Finding.LUNG_OPACITY:  # an opacity reads at least as sure as the pneumonia in it
        level = max(states.get(f, Certainty.ABSENT) for f in AIRSPACE)
    return EXPECTED_MENTION[level]


def _incoherences(draft: DraftReport, results: Mapping[Finding, FindingResult]) -> Iterator[str]:
    """What is wrong with a draft of ``results``; nothing for a coherent draft."""
    states = {f: certainty(r) for f, r in results.items() if f is not Finding.NO_FINDING}
    findings = _labelled([draft.findings])
    impression = _labelled([re.sub(r"^\d+\. ", "", line) for line in draft.impression.splitlines()])
    texts = [text for text, _ in findings]
    if len(set(texts)) != len(texts):
        yield "a sentence is repeated"
    for finding in OBSERVATIONS:
        said = [(text, m[finding]) for text, m in findings + impression if finding in m]
        if any(m.is_present for _, m in said) and any(m is Mention.NEGATIVE for _, m in said):
            yield f"{finding.value} both stated and negated: {said}"
        state = states.get(finding)
        if state is None and said:
            yield f"{finding.value} is not assessed, yet the draft says {said}"
        elif state is Certainty.ABSENT and any(m.is_present for _, m in said):
            yield f"{finding.value} is not flagged, yet the draft says {said}"
        elif state is not None and state is not Certainty.ABSENT:
            want = _expected_mention(finding, states)
            for name, section in (("FINDINGS", findings), ("IMPRESSION", impression)):
                got = [(text, m[finding]) for text, m in section if finding in m]
                if [m for _, m in got] != [want]:
                    yield f"{finding.value} ({state.name}) should read {want.value} once in {name}: {got}"
    yield from _laterality_problems(results, findings)
    yield from _not_assessed_problems(draft, states, texts)
    if find_discordances(draft, results):
        yield f"the consistency guard objects: {find_discordances(draft, results)}"


def _laterality_problems(results: Mapping[Finding, FindingResult], findings: Sentences) -> Iterator[str]:
    for finding, result in results.items():
        if result.laterality is None:
            continue
        for text, said in findings:
            if finding in said and said[finding].is_present and result.laterality.value not in text.lower():
                yield f"{finding.value} is {result.laterality.value}, yet the draft says {text!r}"


def _not_assessed_problems(draft: DraftReport, states: Mapping[Finding, Certainty], texts: list[str]) -> Iterator[str]:
    note = " ".join(text for text in texts if NOT_ASSESSED_MARK in text)
    for finding in OBSERVATIONS:
        named = [re.search(rf"\b{name}\b", note) is not None for name in NOT_ASSESSED_NAMES[finding]]
        if finding not in states and not all(named):
            yield f"{finding.value} is not assessed, yet not named as such: {note!r}"
        if finding in states and any(named):
            yield f"{finding.value} is assessed, yet named as not assessed: {note!r}"
    if NOT_ASSESSED_MARK in draft.impression:
        yield "the findings not assessed are listed in IMPRESSION"
    flagged = any(state is not Certainty.ABSENT for state in states.values())
    if draft.impression.startswith("No acute") == flagged:
        yield f"impression {draft.impression!r} while flagged={flagged}"


def _assert_coherent(cases: Iterator[dict[Finding, FindingResult]]) -> int:
    failures, count = [], 0
    for results in cases:
        count += 1
        draft = compose_report(results)
        problems = list(_incoherences(draft, results))
        if problems:
            failures.append(f"{draft.text}\n  -> " + "\n  -> ".join(problems))
    assert not failures, f"{len(failures)} of {count} drafts incoherent; first:\n" + "\n\n".join(failures[:3])
    return count


@pytest.mark.parametrize("side", SIDES, ids=lambda s: "no side" if s is None else s.value)
def test_every_combination_for_the_bundled_classifier(side):
    cases = (
        _results(dict(zip(BUNDLED, states, strict=True)), side)
        for states in itertools.product(STATES, repeat=len(BUNDLED))
    )
    assert _assert_coherent(cases) == 3 ** len(BUNDLED)


def _up_to_three_flagged() -> Iterator[dict[Finding, Certainty]]:
    """All 13 observations assessed, any one, two or three of them possible or present."""
    for size in range(4):
        for chosen in itertools.combinations(OBSERVATIONS, size):
            for levels in itertools.product((Certainty.POSSIBLE, Certainty.PRESENT), repeat=size):
                states = dict.fromkeys(OBSERVATIONS, Certainty.ABSENT)
                states.update(zip(chosen, levels, strict=True))
                yield states


def test_all_pairs_and_triples_for_a_fourteen_label_classifier():
    sides = itertools.cycle(SIDES)
    cases = (_results(states, next(sides), no_finding=True) for states in _up_to_three_flagged())
    assert _assert_coherent(cases) == 1 + 13 * 2 + 78 * 4 + 286 * 8


def test_every_combination_of_the_overlapping_findings():
    """Airspace, edema, atelectasis and the cardiomediastinal pair in every state, the rest absent."""
    overlapping = (
        *AIRSPACE,
        Finding.EDEMA,
        Finding.ATELECTASIS,
        Finding.CARDIOMEGALY,
        Finding.ENLARGED_CARDIOMEDIASTINUM,
    )
    others = dict.fromkeys(OBSERVATIONS, Certainty.ABSENT)

    def cases() -> Iterator[dict[Finding, FindingResult]]:
        for levels in itertools.product(STATES, repeat=len(overlapping)):
            yield _results({**others, **dict(zip(overlapping, levels, strict=True))}, Laterality.LEFT)

    assert _assert_coherent(cases()) == 3 ** len(overlapping)


def test_random_classifiers_assessing_any_subset():
    """Fixed-seed samples: each finding unassessed, absent, possible or present, any side."""
    rng = random.Random(11)

    def cases() -> Iterator[dict[Finding, FindingResult]]:
        for _ in range(1500):
            states = {f: state for f in OBSERVATIONS if (state := rng.choice((None, *STATES))) is not None}
            yield _results(states, rng.choice(SIDES))

    assert _assert_coherent(cases()) == 1500


@pytest.mark.parametrize(
    ("findings", "impression"),
    [
        (
            "Possible patchy airspace opacity. No focal airspace disease. No pleural effusion. "
            "The heart size is normal.",
            "1. Possible airspace opacity.",
        ),
        (
            "There is left airspace opacity in keeping with pneumonia. Possible left patchy airspace opacity. "
            "No pleural effusion. The heart size is normal.",
            "1. Left airspace disease, likely pneumonia.\n2. Possible left airspace opacity.",
        ),
    ],
    ids=["opacity and its negation", "opacity twice"],
)
def test_the_check_rejects_the_drafts_issue_11_quotes(findings, impression):
    states = {
        Finding.PNEUMONIA: Certainty.PRESENT if "pneumonia" in findings else Certainty.ABSENT,
        Finding.LUNG_OPACITY: Certainty.POSSIBLE,
        Finding.PLEURAL_EFFUSION: Certainty.ABSENT,
        Finding.CARDIOMEGALY: Certainty.ABSENT,
    }
    results = _results(states)
    problems = list(_incoherences(DraftReport(findings, impression, "old"), results))
    assert any("Lung Opacity" in problem for problem in problems)
    assert any("not named" in problem for problem in problems)
