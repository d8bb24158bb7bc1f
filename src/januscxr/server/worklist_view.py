"""The worklist table's HTML: its sortable headings and its rows.

Rows are built here rather than in the template: a 10,000-study worklist renders about three
times faster (docs/benchmarks.md, "Reading room"). Every text is escaped. The page's script
refreshes the rows by fetching the same page again, so this is the only row renderer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from markupsafe import escape

from januscxr.storage.studies import WorklistSort

BADGES = {"failed": "AI failed", "refused": "AI refused", "hidden": "—"}
COLUMNS: list[tuple[str, WorklistSort | None]] = [
    ("Urgency", WorklistSort.URGENCY),
    ("Patient", WorklistSort.PATIENT_NAME),
    ("Patient ID", WorklistSort.PATIENT_ID),
    ("Sex", WorklistSort.PATIENT_SEX),
    ("Age", WorklistSort.PATIENT_AGE),
    ("Study date", WorklistSort.STUDY_DATE),
    ("Accession", WorklistSort.ACCESSION),
    ("Description", WorklistSort.DESCRIPTION),
    ("Source", None),
    ("AI", None),
    ("Ready in", None),
    ("Waiting", WorklistSort.RECEIVED),
    ("Images", None),
    ("Report", WorklistSort.REPORT),
]


def worklist_headings(filters: dict[str, Any], sort: WorklistSort, *, descending: bool) -> list[dict[str, Any]]:
    """Each column's heading: its link sorts by it (again: the other way), keeping every filter."""
    kept = {k: v for k, v in filters.items() if v not in ("", [], None)}
    headings = []
    for label, key in COLUMNS:
        active = key is sort
        order = "desc" if active and not descending else "asc"
        href = None if key is None else "?" + urlencode({**kept, "sort": key.value, "order": order}, doseq=True)
        aria = ("descending" if descending else "ascending") if active else None
        headings.append({"label": label, "href": href, "aria_sort": aria, "key": key.value if key else ""})
    return headings


def worklist_row(item: dict[str, Any]) -> str:
    """One worklist row as HTML."""
    priority, study_id = escape(item["priority"]), int(item["study_id"])
    badge = escape(BADGES.get(item["priority"], item["priority"]))
    # No patient name (a PNG or JPEG has no header): the study's description, then its label, muted.
    name = item["patient_name"] or item["study_description"] or item["label"]
    unnamed = "" if item["patient_name"] else ' class="unnamed" title="No patient name in the file"'
    age = item["patient_age_years"]
    cells = [
        f'<td><span class="badge {priority}">{badge}</span></td>',
        f'<td class="patient"><a href="/studies/{study_id}"{unnamed}>{escape(name)}</a></td>',
        *(f"<td>{escape(item[k] or '')}</td>" for k in ("patient_id", "patient_sex")),
        f"<td>{'' if age is None else f'{age:.0f} y'}</td>",
        f"<td>{escape(' '.join(filter(None, (item['study_date'], item['study_time']))))}</td>",
        *(f"<td>{escape(item[k] or '')}</td>" for k in ("accession_number", "study_description")),
        f'<td class="source">{escape(source_label(item["source"]))}</td>',
        f'<td class="ai">{_ai_cell(item)}</td>',
        f'<td class="ready">{ready_label(item["ready_s"])}</td>',
        f"<td>{item['waiting_min']:.0f} min</td><td>{int(item['n_images'])}</td>",
        f"<td>{escape(item['report_status'])}</td>",
    ]
    return f'<tr class="p-{priority}" data-study-id="{study_id}">{"".join(cells)}</tr>'


def source_label(source: str | None) -> str:
    """Where a study came from, for reading: "DICOM from PACS1" for ``dicom:PACS1``."""
    kind, _, where = (source or "").partition(":")
    names = {"upload": "Upload", "watch": "Watched folder", "dicom": "DICOM", "dicomweb": "DICOMweb"}
    if kind not in names:
        return source or "—"
    return f"{names[kind]} from {where}" if where else names[kind]


def ready_label(seconds: float | None) -> str:
    """Receipt to AI draft: "42 s", "3.5 min", "2.0 h"; "—" while pending (or hidden)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _ai_cell(item: dict[str, Any]) -> str:
    if item["ai_error"]:
        return f'<span class="ai-error">{escape(item["ai_error"])}</span>'
    if item["ai_status"] == "pending":
        return '<span class="hint">reading…</span>'
    return str(escape(", ".join(item["flagged_findings"])))
