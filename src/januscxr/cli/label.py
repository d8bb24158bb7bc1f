"""``januscxr label``: the 14 CheXpert labels of each report in a CSV or JSONL table.

Also ``validate_labeler_command``: the labeler against the MeSH codes of the IU reports.
Until both are registered in the root app, ``python -m januscxr.cli.label label|validate``
runs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from januscxr.errors import ReportInputError

_REPO = Path(__file__).resolve().parents[3]


def label_command(
    reports: Annotated[Path, typer.Argument(help="Reports to label: .csv with a header row, or .jsonl.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file, same format (default: REPORTS.labels.csv/.jsonl).")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column (CSV) or key (JSONL) holding the report text.")] = "report",
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Keep rows with an empty report, unlabelled, and count them.")
    ] = False,
    chexpert_no_finding: Annotated[
        bool,
        typer.Option(
            "--chexpert-no-finding", help="No Finding ignores abnormalities outside the 14 observations (CheXpert)."
        ),
    ] = False,
) -> None:
    """Add a column per finding: 1 positive, 0 negative, -1 uncertain, blank not mentioned."""
    from januscxr.labeler import NoFindingRule, label_report
    from januscxr.labeler.table import read_report_table, write_report_table

    table = read_report_table(reports, text_column, allow_empty=allow_empty)
    rule = NoFindingRule.CHEXPERT if chexpert_no_finding else NoFindingRule.NORMAL_STUDY
    labels = [
        None if text is None else label_report(text, no_finding=rule)
        for text in tqdm(table.texts, desc="labelling", unit="report", disable=len(table.texts) < 2 or None)
    ]
    destination = out or reports.with_name(f"{reports.stem}.labels{reports.suffix}")
    if destination.resolve() == reports.resolve():
        raise ReportInputError(f"{destination}: refusing to overwrite the input; choose another --out")
    write_report_table(table, labels, destination)
    skipped = f"; {table.empty_rows} empty report(s) left unlabelled" if table.empty_rows else ""
    typer.echo(f"{destination}: {len(labels) - table.empty_rows} of {len(labels)} reports labelled{skipped}")


def validate_labeler_command(
    data: Annotated[
        Path | None,
        typer.Option(help="Folder holding iu_xray/reports.csv (default: $JANUSCXR_DATA or ../shared/data)."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="Only these splits (train, val, unsplit); default all.")
    ] = None,
) -> None:
    """Score the labeler against the IU reports' MeSH codes: a Markdown table of P, R, F1."""
    from januscxr.labeler.validation import REPORTS_CSV, format_table, read_coded_reports, score_reports

    folder = data or Path(os.environ.get("JANUSCXR_DATA", _REPO.parent / "shared" / "data"))
    path = folder / REPORTS_CSV
    if not path.is_file():
        raise ReportInputError(f"{path}: not found; pass --data or set JANUSCXR_DATA")
    coded = read_coded_reports(path)
    reports = [r for r in coded.reports if not split or r.split in split]
    scores = score_reports(reports, n_bootstrap=bootstrap, seed=seed)
    typer.echo(
        f"{path}: {len(reports)} coded reports scored ({coded.not_indexed} 'No Indexing' and "
        f"{coded.empty_text} without text left out); POSITIVE counts, UNCERTAIN does not.\n"
    )
    typer.echo(format_table(scores))
    if not all(score.meets_target for score in scores):
        raise typer.Exit(1)
