"""The consistency guard: does the drafted report say what the classifier found?

The draft is labelled with :func:`januscxr.labeler.label_report` and each finding the classifier
assessed is compared with its flag: a flagged finding the report denies or leaves out, and a
finding the report asserts while the classifier scores it under its threshold, become
:class:`~januscxr.types.Discordance` values in the read result, so the reading room can
highlight them. Findings the classifier does not score are never compared.
"""

from __future__ import annotations

from collections.abc import Mapping

from januscxr.labeler import Mention, label_report
from januscxr.labels import Finding, sort_by_urgency
from januscxr.report.parse import parse_sections
from januscxr.types import Discordance, DiscordanceKind, DraftReport, FindingResult

_KIND_ORDER = {DiscordanceKind.REPORT_DENIES: 0, DiscordanceKind.REPORT_OMITS: 1, DiscordanceKind.REPORT_ASSERTS: 2}


def find_discordances(report: DraftReport | str, findings: Mapping[Finding, FindingResult]) -> tuple[Discordance, ...]:
    """Disagreements between a draft and the classifier, most urgent first.

    Examples
    --------
    >>> from januscxr.types import FindingResult
    >>> flags = {Finding.PNEUMOTHORAX: FindingResult(Finding.PNEUMOTHORAX, 0.9, 0.3)}
    >>> [d.kind.value for d in find_discordances("No pneumothorax.", flags)]
    ['report_denies']
    """
    sections = (report.findings, report.impression) if isinstance(report, DraftReport) else parse_sections(report)
    labels = label_report("\n\n".join(s for s in sections if s))  # headings would end up in quoted sentences
    found: list[Discordance] = []
    for finding, result in findings.items():
        if finding is Finding.NO_FINDING:
            continue
        label = labels[finding]
        kind = _kind(result.flagged, label.mention)
        if kind is not None:
            found.append(Discordance(finding, kind, result.probability, result.threshold, label.sentence))
    urgency = {f: rank for rank, f in enumerate(sort_by_urgency([d.finding for d in found]))}
    return tuple(sorted(found, key=lambda d: (_KIND_ORDER[d.kind], urgency[d.finding])))


def _kind(flagged: bool, mention: Mention) -> DiscordanceKind | None:
    if flagged and mention is Mention.NEGATIVE:
        return DiscordanceKind.REPORT_DENIES
    if flagged and mention is Mention.NOT_MENTIONED:
        return DiscordanceKind.REPORT_OMITS
    if not flagged and mention is Mention.POSITIVE:
        return DiscordanceKind.REPORT_ASSERTS
    return None
