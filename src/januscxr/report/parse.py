"""Parsing a vision-language model's answer into FINDINGS and IMPRESSION.

Janus-Pro-CXR answers ``FINDINGS: ... IMPRESSION: 1. ...; 2. ...`` on one line; other models
use bold headings, singular forms or put the impression first. A missing heading leaves that
section empty rather than guessing, and text before any heading counts as findings.
"""

from __future__ import annotations

import re

from januscxr.types import DraftReport

_HEADING = re.compile(r"(?i)(?:^|(?<=[\s*#.:]))(?:\*\*|#+\s*)?(findings?|impressions?)\s*(?:\*\*)?\s*:\s*(?:\*\*)?")
_NUMBERED = re.compile(r"\s+(?=\d{1,2}[.)]\s)")


def parse_sections(text: str) -> tuple[str, str]:
    """(findings, impression) from a model's answer."""
    sections: dict[str, list[str]] = {"findings": [], "impression": []}
    matches = list(_HEADING.finditer(text))
    lead = text[: matches[0].start()] if matches else text
    if lead.strip():
        sections["findings"].append(lead)
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        key = "findings" if match.group(1).lower().startswith("finding") else "impression"
        sections[key].append(text[match.end() : end])
    findings = _clean(" ".join(sections["findings"]))
    impression = _clean(" ".join(sections["impression"]))
    if re.match(r"1[.)]\s", impression):
        impression = _NUMBERED.sub("\n", impression)
    return findings, impression


def _clean(text: str) -> str:
    text = text.replace("**", "")
    return re.sub(r"[ \t]+", " ", text).strip(" \n\t#")


def parse_report(text: str, reporter: str) -> DraftReport:
    """A :class:`DraftReport` from a model's answer."""
    findings, impression = parse_sections(text)
    return DraftReport(findings=findings, impression=impression, reporter=reporter)
