"""``januscxr export``: studies' images and signed reports for research, de-identified on request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    studies: Annotated[
        list[str],
        typer.Argument(
            help="What to export: 'all', 'signed' (reports signed or amended), Study Instance UIDs or accession "
            "numbers, or @FILE with one of these per line. Give several to export their union."
        ),
    ],
    out: Annotated[Path, typer.Option(help="New or empty folder to write to.")],
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="DICOM PS3.15 Basic Confidentiality Profile; reports redacted.")
    ] = False,
    shift_dates: Annotated[
        bool, typer.Option("--shift-dates", help="With --deidentify: shift dates per patient instead of removing.")
    ] = False,
    include_burned_in: Annotated[
        bool,
        typer.Option(
            "--include-burned-in", help="Export images with Burned In Annotation YES (flagged), not withhold."
        ),
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option(help="With --deidentify: write original -> pseudonym to this new file, outside --out."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="The reading room's data folder (as given to `serve`).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL, when not the data folder's SQLite file.")
    ] = None,
) -> None:
    """Write the selected studies' images and signed reports, with manifest.csv, to --out.

    Unsigned studies are exported without a report (report_status in the manifest says why).
    An unreadable image is named and skipped, the rest exported, and the exit status is 1.
    Free-text de-identification of reports is best-effort: review the reports before sharing.
    """
    if (shift_dates or key_file) and not deidentify:
        raise typer.BadParameter("--shift-dates and --key-file need --deidentify")
    if key_file is not None and (key_file.exists() or key_file.resolve().is_relative_to(out.resolve())):
        raise typer.BadParameter(f"--key-file {key_file}: exists or lies inside --out; expected a new file outside it")
    from januscxr.interop.deidentify import Deidentifier
    from januscxr.server import load_settings
    from januscxr.server.research_export import (
        ExportOptions,
        export_studies,
        prepare_out_dir,
        write_key_file,
    )
    from januscxr.storage.database import open_database
    from januscxr.storage.exports import select_study_ids

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    db = open_database(settings.resolved_database_url)
    try:
        with db.read() as session:
            study_ids = select_study_ids(session, _selectors(studies))
        prepare_out_dir(out, settings.data_dir)
        deidentifier = Deidentifier(shift_dates=shift_dates) if deidentify else None
        options = ExportOptions(deidentifier=deidentifier, include_burned_in=include_burned_in)
        with typer.progressbar(
            length=len(study_ids), label="exporting studies", file=typer.get_text_stream("stderr")
        ) as bar:
            outcome = export_studies(
                db, settings.data_dir, study_ids, out, options=options, advance=lambda: bar.update(1)
            )
    finally:
        db.dispose()
    if key_file is not None and deidentifier is not None:
        write_key_file(key_file, deidentifier)
    for line in outcome.flagged:
        typer.echo(f"flagged {line}", err=True)
    for line in outcome.withheld:
        typer.echo(f"withheld {line} (--include-burned-in to export it)", err=True)
    for line in outcome.skipped:
        typer.echo(f"skipped {line}", err=True)
    typer.echo(f"{outcome.studies} studies, {outcome.images} images, {outcome.reports} reports -> {out}")
    if outcome.skipped:
        typer.echo(f"error: {len(outcome.skipped)} images could not be exported", err=True)
        raise typer.Exit(1)


def _selectors(studies: list[str]) -> list[str]:
    """The arguments with each @FILE replaced by its non-empty lines."""
    selectors: list[str] = []
    for study in studies:
        if study.startswith("@"):
            try:
                lines = Path(study[1:]).read_text().splitlines()
            except OSError as error:
                raise typer.BadParameter(f"{study}: {error.strerror}; expected a readable file") from error
            selectors += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        else:
            selectors.append(study)
    return selectors
