"""Where a report and an AI read disagree: :func:`januscxr.consistency.find_discordances`, the one rule.

The worker stores the AI draft's discordances with its result; while the report still holds
that draft they are shown as stored, and once the reader edits it they are computed again by
the same function against the stored findings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from januscxr.consistency import find_discordances
from januscxr.labels import Finding
from januscxr.records import discordance_record
from januscxr.server.schemas import DiscordancePublic
from januscxr.storage.tables import AiResult
from januscxr.types import DraftReport, FindingResult


def report_discordances(result: AiResult, *, findings: str, impression: str) -> list[DiscordancePublic]:
    """The discordances of the report text against ``result``, most urgent first."""
    if result.discordances is not None and (findings, impression) == (result.draft_findings, result.draft_impression):
        records = result.discordances
    else:
        draft = DraftReport(findings=findings, impression=impression, reporter=result.reporter)
        records = [discordance_record(d) for d in find_discordances(draft, finding_results(result.findings))]
    return [DiscordancePublic.model_validate(record) for record in records]


def finding_results(records: Iterable[Mapping[str, Any]]) -> dict[Finding, FindingResult]:
    """Stored ``records.finding_record`` rows back as the classifier's results (scores and thresholds)."""
    results = {}
    for record in records:
        finding = Finding(record["finding"])
        probability, threshold = float(record["probability"]), float(record["threshold"])
        if bool(record["flagged"]) != (probability >= threshold):  # rounded at the boundary: the stored flag wins
            threshold = probability if record["flagged"] else math.nextafter(probability, math.inf)
        urgent = record.get("urgent_threshold")
        results[finding] = FindingResult(finding, probability, threshold, urgent_threshold=urgent)
    return results
