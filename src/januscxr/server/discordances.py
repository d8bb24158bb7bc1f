"""Where a report and an AI read disagree: :func:`januscxr.consistency.find_discordances`, the one rule.

The worker stores the AI draft's discordances with its result; while the report still holds
that draft they are shown as stored, and once the reader edits it they are computed again by
the same function against the stored findings.
"""

from __future__ import annotations

from januscxr.consistency import find_discordances
from januscxr.records import discordance_record, finding_results
from januscxr.server.schemas import DiscordancePublic
from januscxr.storage.tables import AiResult
from januscxr.types import DraftReport


def report_discordances(result: AiResult, *, findings: str, impression: str) -> list[DiscordancePublic]:
    """The discordances of the report text against ``result``, most urgent first."""
    if result.discordances is not None and (findings, impression) == (result.draft_findings, result.draft_impression):
        records = result.discordances
    else:
        draft = DraftReport(findings=findings, impression=impression, reporter=result.reporter)
        records = [discordance_record(d) for d in find_discordances(draft, finding_results(result.findings))]
    return [DiscordancePublic.model_validate(record) for record in records]
