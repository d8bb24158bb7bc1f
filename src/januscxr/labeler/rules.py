"""Label report text: each of the 14 CheXpert observations with the sentence behind it.

For every sentence, every vocabulary phrase found is judged in its clause (negated,
uncertain or affirmed) and the report keeps, per finding, the strongest verdict: positive
over uncertain over negative. "No Finding" follows from the others (:class:`NoFindingRule`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Final

from januscxr.labeler.annotation import FindingLabel, Mention, NoFindingRule, ReportLabels
from januscxr.labeler.context import TRIGGER_REGEXES, Polarity, SentenceContext
from januscxr.labeler.lexicon import PhraseKind
from januscxr.labeler.scanner import PhraseMatch, PhraseScanner
from januscxr.labeler.sentences import split_sentences
from januscxr.labeler.vocabulary import FINDING_LEXICONS, NORMAL_STUDY, OTHER_ABNORMALITY
from januscxr.labels import CHEXPERT_14, Finding

# One pass over the words finds everything: the phrases of the 13 findings, then those of the
# abnormalities outside them, the phrases calling a study normal, and the context triggers.
_FINDINGS: Final[tuple[Finding, ...]] = tuple(FINDING_LEXICONS)
_OTHER_INDEX: Final = len(_FINDINGS)
_NORMAL_STUDY_INDEX: Final = _OTHER_INDEX + 1
_TRIGGER_INDEX: Final = _OTHER_INDEX + 2
_SCANNER: Final = PhraseScanner(
    [
        *(lexicon.regexes() for lexicon in FINDING_LEXICONS.values()),
        OTHER_ABNORMALITY.regexes(),
        NORMAL_STUDY.regexes(),
        TRIGGER_REGEXES,
    ]
)

_RANK: Final[dict[Mention, int]] = {
    Mention.NOT_MENTIONED: 0,
    Mention.NEGATIVE: 1,
    Mention.UNCERTAIN: 2,
    Mention.POSITIVE: 3,
}
_FROM_POLARITY: Final[dict[Polarity, Mention]] = {
    Polarity.AFFIRMED: Mention.POSITIVE,
    Polarity.NEGATED: Mention.NEGATIVE,
    Polarity.UNCERTAIN: Mention.UNCERTAIN,
    Polarity.HYPOTHETICAL: Mention.NOT_MENTIONED,
    Polarity.HISTORICAL: Mention.NOT_MENTIONED,
}
# Observations whose presence rules out "No Finding" under CheXpert's rule.
_ABNORMAL: Final = tuple(f for f in CHEXPERT_14 if f not in {Finding.NO_FINDING, Finding.SUPPORT_DEVICES})


def label_report(text: str, *, no_finding: NoFindingRule | str = NoFindingRule.NORMAL_STUDY) -> ReportLabels:
    """Label one radiology report.

    Parameters
    ----------
    text
        Report text, typically FINDINGS and IMPRESSION; any case. De-identification tokens
        such as ``XXXX`` are treated as unknown words.
    no_finding
        When "No Finding" is positive; see :class:`NoFindingRule`.

    Returns
    -------
    ReportLabels
        A :class:`FindingLabel` for each of the 14 observations, with the deciding sentence.

    Examples
    --------
    >>> labels = label_report("Mild cardiomegaly. No pleural effusion.")
    >>> labels["Cardiomegaly"].mention, labels["Pleural Effusion"].mention
    (<Mention.POSITIVE: 'positive'>, <Mention.NEGATIVE: 'negative'>)
    """
    rule = NoFindingRule(no_finding)
    lowered = text.lower()
    spans = split_sentences(text)
    best: dict[Finding, tuple[Mention, int]] = {}
    other_sentences: list[int] = []
    normal_sentence: int | None = None
    for index, phrases, context in _sentences_with_phrases(lowered, spans):
        for match in phrases:
            if match.pattern == _NORMAL_STUDY_INDEX:
                normal_sentence = index if normal_sentence is None else normal_sentence
                continue
            mention = _judge(match, context)
            if match.pattern == _OTHER_INDEX:
                if mention.is_present and other_sentences[-1:] != [index]:
                    other_sentences.append(index)
                continue
            finding = _FINDINGS[match.pattern]
            if _RANK[mention] > _RANK[best.get(finding, (Mention.NOT_MENTIONED, 0))[0]]:
                best[finding] = (mention, index)

    def quote(index: int | None) -> str | None:
        return None if index is None else text[spans[index][0] : spans[index][1]]

    labels: dict[Finding, FindingLabel] = {
        finding: FindingLabel(finding, mention, quote(index))
        for finding, (mention, index) in best.items()
        if finding is not Finding.NO_FINDING
    }
    for finding in CHEXPERT_14:
        labels.setdefault(finding, FindingLabel(finding, Mention.NOT_MENTIONED))
    blockers = [best[f][1] for f in _ABNORMAL if labels[f].mention.is_present]
    if rule is NoFindingRule.NORMAL_STUDY:
        blockers += other_sentences
    if not spans:
        no_finding_label = FindingLabel(Finding.NO_FINDING, Mention.NOT_MENTIONED)
    elif blockers:
        no_finding_label = FindingLabel(Finding.NO_FINDING, Mention.NEGATIVE, quote(min(blockers)))
    else:
        no_finding_label = FindingLabel(Finding.NO_FINDING, Mention.POSITIVE, quote(normal_sentence))
    labels[Finding.NO_FINDING] = no_finding_label
    return ReportLabels(labels, tuple(text[spans[i][0] : spans[i][1]] for i in other_sentences))


def label_reports(
    texts: Iterable[str], *, no_finding: NoFindingRule | str = NoFindingRule.NORMAL_STUDY
) -> list[ReportLabels]:
    """Label many reports; see :func:`label_report`.

    Parameters
    ----------
    texts
        Report texts, in order.
    no_finding
        When "No Finding" is positive; see :class:`NoFindingRule`.

    Returns
    -------
    list of ReportLabels
        One per text, in the same order.
    """
    rule = NoFindingRule(no_finding)
    return [label_report(text, no_finding=rule) for text in texts]


def _sentences_with_phrases(
    lowered: str, spans: list[tuple[int, int]]
) -> Iterator[tuple[int, list[PhraseMatch], SentenceContext]]:
    """Per sentence holding a vocabulary phrase: its index, its phrases and its context."""
    starts = [start for start, _ in spans]
    by_sentence: dict[int, list[PhraseMatch]] = {}
    triggers: dict[int, list[tuple[int, int, str]]] = {}
    for match in _SCANNER.scan(lowered):
        index = bisect.bisect_right(starts, match.start) - 1
        if index < 0 or match.end > spans[index][1]:
            continue
        if match.pattern == _TRIGGER_INDEX:
            triggers.setdefault(index, []).append((match.start, match.end, str(match.group)))
        else:
            by_sentence.setdefault(index, []).append(match)
    for index, matches in sorted(by_sentence.items()):
        yield index, matches, SentenceContext(lowered, *spans[index], triggers.get(index, ()))


def _judge(match: PhraseMatch, context: SentenceContext) -> Mention:
    """The label one phrase gives in its sentence."""
    if match.group == PhraseKind.IGNORED:
        return Mention.NOT_MENTIONED
    if match.group == PhraseKind.NORMAL:
        return Mention.NEGATIVE
    polarity, _ = context.polarity(match.start, match.end)
    mention = _FROM_POLARITY[polarity]
    if match.group == PhraseKind.HEDGED and mention is Mention.POSITIVE:
        return Mention.UNCERTAIN
    return mention
