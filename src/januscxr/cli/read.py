"""``januscxr read``: findings, heatmaps and draft reports for files and folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from januscxr.errors import JanusCxrError, exit_code_for

if TYPE_CHECKING:
    from januscxr.models.base import Classifier, Reporter

# The pipeline, the io layer and torch load when a file is read, not for `januscxr --help`.


def read_command(
    paths: Annotated[list[Path], typer.Argument(help="DICOM, PNG or JPEG files, or folders of them.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (schema: januscxr/schemas/read-output.schema.json).")
    ] = False,
    heatmaps: Annotated[
        Path | None, typer.Option("--heatmaps", help="Write a PNG overlay per flagged finding into this folder.")
    ] = None,
    classifier: Annotated[
        str | None,
        typer.Option(help="Registered classifier (`januscxr models list`), or experts combined: a,b."),
    ] = None,
    reporter: Annotated[
        str | None,
        typer.Option(
            help="Registered reporter: findings-composer (default) or a Janus model (`januscxr models list`)."
        ),
    ] = None,
    allow_lateral: Annotated[bool, typer.Option("--allow-lateral", help="Read lateral views too.")] = False,
    gate: Annotated[
        str | None, typer.Option(help="Registered chest-radiograph gate (default: the bundled one).")
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of Janus weights, converted classifiers, calibrations (~/.cache/januscxr/models)."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="Janus: cuda, cpu or auto (CUDA when available).")] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="Janus: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16 or int8 (CPU)."),
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Janus: longest draft, in tokens (512).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Janus: print the draft as it is generated.")] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Janus: studies drafted together (1; same drafts as one by one, faster on a GPU)."),
    ] = None,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            min=1, help="Refuse images with more pixels (rows x columns x frames) before decoding them (60000000)."
        ),
    ] = None,
) -> None:
    """Read chest X-rays: critical findings first, then the draft report.

    Options left out come from the same settings as the reading room (JANUSCXR_* variables, the
    TOML file named by JANUSCXR_CONFIG); see docs/reading-room.md.
    """
    from tqdm import tqdm

    from januscxr.cli.summary import render_summary, write_heatmaps
    from januscxr.io import pixel_limit, search_images
    from januscxr.pipeline import read_batches
    from januscxr.records import error_record, output_record, result_record
    from januscxr.server.settings import load_settings

    settings = load_settings(
        classifier=classifier,
        reporter=reporter,
        gate=gate,
        models_dir=models_dir,
        device=device,
        precision=precision,
        max_new_tokens=max_new_tokens,
        reporter_batch_size=batch_size,
        max_image_pixels=max_pixels,
    )
    search = search_images(paths)
    files = search.files
    if not files and not search.errors:
        raise typer.BadParameter("no DICOM, PNG or JPEG files found", param_hint="PATHS")
    chosen = _load_reporter(settings.reporter, stream=stream and not as_json, **settings.reporter_options())
    model = _load_classifier(settings.classifier, settings.models_dir)
    records: list[dict[str, object]] = []
    errors: list[tuple[Path, JanusCxrError]] = list(search.errors)
    for _, error in errors:
        if not as_json:
            typer.echo(f"error: {error}", err=True)
    outcomes = read_batches(
        files,
        batch_size=settings.reporter_batch_size,
        classifier=model,
        reporter=chosen,
        require_frontal=not allow_lateral,
        gate=settings.gate,
    )
    progress = tqdm(outcomes, total=len(files), desc="reading", unit="image", disable=len(files) < 2 or None)
    with pixel_limit(settings.max_image_pixels):  # read_batches reads lazily, inside this block
        for path, outcome in progress:
            if isinstance(outcome, JanusCxrError):
                errors.append((path, outcome))
                if not as_json:
                    typer.echo(f"error: {outcome}", err=True)
                continue
            if stream and chosen is not None and not as_json:
                typer.echo("")  # end the streamed draft's line
            written = write_heatmaps(outcome, heatmaps) if heatmaps else {}
            records.append(result_record(outcome, written))
            if not as_json:
                typer.echo(render_summary(outcome, written))
    if as_json:
        typer.echo(json.dumps(output_record(records, [error_record(str(p), e) for p, e in errors]), indent=2))
    _finish(len(files) + len(search.errors), errors, quiet=as_json)


def _load_reporter(name: str | None, *, stream: bool, **options: object) -> Reporter | None:
    """The reporter, loaded once for all files; a missing model ends the command with its message."""
    from januscxr.pipeline import DEFAULT_REPORTER, load_reporter

    if name is None or name == DEFAULT_REPORTER:
        return None
    on_text = (lambda index, text: typer.echo(text, nl=False)) if stream else None
    try:
        return load_reporter(name, on_text=on_text, **options)  # type: ignore[arg-type]
    except JanusCxrError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(exit_code_for(error)) from None


def _load_classifier(name: str | None, models_dir: Path | None) -> Classifier:
    """The classifier (or experts combined), loaded once for all files; a missing model ends the command."""
    from januscxr.pipeline import cached_classifier

    try:
        return cached_classifier(name, models_dir) if name else cached_classifier(models_dir=models_dir)
    except JanusCxrError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(exit_code_for(error)) from None


def _finish(total: int, errors: list[tuple[Path, JanusCxrError]], *, quiet: bool) -> None:
    if not errors:
        return
    if not quiet:
        typer.echo(f"\n{total - len(errors)} of {total} read; {len(errors)} failed:", err=True)
        for _, error in errors:
            typer.echo(f"  {error}", err=True)
    codes = {exit_code_for(e) for _, e in errors}
    raise typer.Exit(codes.pop() if len(codes) == 1 else 1)
