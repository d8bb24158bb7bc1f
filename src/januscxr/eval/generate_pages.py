"""The pages of ``januscxr eval generate``: the same tables as Markdown and as HTML.

Report text is written into the HTML page only through :func:`html.escape`, and into Markdown
table cells with ``&``, ``<``, ``>`` and ``|`` escaped, so a report can never inject markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from januscxr.eval.clinical import ClinicalEfficacy
from januscxr.eval.markdown import table
from januscxr.eval.text import TEXT_METRICS, TextScores

if TYPE_CHECKING:
    from januscxr.eval.generate import DraftRecord, Section


@dataclass(frozen=True)
class Table:
    """A titled table: header cells and rows of plain text."""

    title: str
    header: tuple[str, ...]
    rows: list[list[str]]


@dataclass(frozen=True)
class SampleRow:
    """One report shown side by side with its reference."""

    case_id: str
    reference: str
    draft: str
    scores: dict[str, float]


def sample_rows(
    records: Sequence[DraftRecord], scores: TextScores, section: Section, *, size: int = 10, seed: int = 0
) -> list[SampleRow]:
    """Up to ``size`` scored reports drawn at random (seeded), in manifest order."""
    scored = [r for r in records if r.case_id in scores.per_report]
    if size <= 0 or not scored:
        return []
    picked = np.sort(np.random.default_rng(seed).choice(len(scored), size=min(size, len(scored)), replace=False))
    return [
        SampleRow(r.case_id, r.reference(section), r.draft(section), scores.per_report[r.case_id])
        for r in (scored[int(k)] for k in picked)
    ]


def result_tables(result: dict[str, Any]) -> list[Table]:
    """Summary, text metrics, clinical efficacy, skipped rows and metrics not computed."""
    inputs, counts = result["inputs"], result["counts"]
    scores: TextScores = result["text_metrics"]
    summary = [[k, str(v)] for k, v in inputs.items()]
    summary += [["section scored", str(result["section"])], ["tokenization", scores.tokenization.value]]
    summary += [[k.replace("_", " "), str(v)] for k, v in counts.items()]
    tables = [
        Table("Run", ("", ""), summary),
        Table(
            "Text metrics",
            ("Metric", "Corpus score"),
            [[m, _num(scores.corpus[m], 4)] for m in TEXT_METRICS if m in scores.corpus],
        ),
    ]
    for name, ce in result["clinical_efficacy"].items():
        tables += _efficacy_tables(name, ce)
    if result["skipped"]:
        tables.append(
            Table(
                "Skipped rows",
                ("Line", "Id", "Reason"),
                [[str(s.line), s.case_id, s.reason] for s in result["skipped"]],
            )
        )
    if result["unavailable"]:
        tables.append(Table("Not computed", ("Metric", "Why"), [[k, v] for k, v in result["unavailable"].items()]))
    return tables


def _efficacy_tables(name: str, ce: ClinicalEfficacy) -> list[Table]:
    title = f"Clinical efficacy, {name} ({len(ce.findings)} findings, uncertain as {ce.uncertain.value})"
    averages = [
        [label, _num(s.precision), _num(s.recall), _num(s.f1)]
        for label, s in (("micro", ce.micro), ("macro", ce.macro), ("example", ce.example))
    ]
    per_finding = [
        [
            a.finding.value,
            str(a.support),
            str(a.tp),
            str(a.fp),
            str(a.fn),
            str(a.tn),
            _num(a.scores.precision),
            _num(a.scores.recall),
            _num(a.scores.f1),
        ]
        for a in ce.per_finding
    ]
    return [
        Table(title, ("Average", "Precision", "Recall", "F1"), averages),
        Table(
            f"Per finding, {name}",
            ("Finding", "Support", "TP", "FP", "FN", "TN", "Precision", "Recall", "F1"),
            per_finding,
        ),
    ]


def render_markdown(result: dict[str, Any], sample: Sequence[SampleRow]) -> str:
    """The scores page in Markdown."""
    lines = [
        f"# Drafts of {_cell(str(result['inputs'].get('reporter', '?')))}: {result['counts']['scored']} reports scored"
    ]
    for t in result_tables(result):
        lines += [
            "",
            f"## {t.title}",
            "",
            *table([_cell(h) for h in t.header], [[_cell(c) for c in row] for row in t.rows]),
        ]
    if sample:
        lines += ["", f"## Sample: {len(sample)} reference and draft side by side", ""]
        lines += table(
            ["Id", "Reference", "Draft", "BLEU-4", "ROUGE-L"],
            [
                [
                    _cell(s.case_id),
                    _cell(s.reference),
                    _cell(s.draft),
                    _num(s.scores.get("BLEU_4")),
                    _num(s.scores.get("ROUGE_L")),
                ]
                for s in sample
            ],
        )
    return "\n".join(lines) + "\n"


def render_html(result: dict[str, Any], sample: Sequence[SampleRow]) -> str:
    """The scores page as one self-contained HTML document."""
    title = f"Drafts of {result['inputs'].get('reporter', '?')}: {result['counts']['scored']} reports scored"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}"
        "td.report{white-space:pre-wrap;max-width:35em}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for t in result_tables(result):
        parts += [f"<h2>{html.escape(t.title)}</h2>", _html_table(t.header, t.rows)]
    if sample:
        parts.append(f"<h2>Sample: {len(sample)} reference and draft side by side</h2>")
        rows = [
            f'<tr><td>{html.escape(s.case_id)}</td><td class="report">{html.escape(s.reference)}</td>'
            f'<td class="report">{html.escape(s.draft)}</td><td>{_num(s.scores.get("BLEU_4"))}</td>'
            f"<td>{_num(s.scores.get('ROUGE_L'))}</td></tr>"
            for s in sample
        ]
        parts.append(
            "<table><tr><th>Id</th><th>Reference</th><th>Draft</th><th>BLEU-4</th><th>ROUGE-L</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no markup, no column breaks."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"
