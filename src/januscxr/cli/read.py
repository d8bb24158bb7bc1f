"""``januscxr read``: findings, heatmaps and draft reports for files and folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from januscxr.errors import JanusCxrError, exit_code_for
from januscxr.io import DEFAULT_MAX_PIXELS, pixel_limit, search_images
from januscxr.io.overlay import write_heatmap_overlay
from januscxr.models.base import Reporter
from januscxr.pipeline import DEFAULT_REPORTER, load_reporter, read_batches
from januscxr.records import error_record, output_record, probability_texts, result_record
from januscxr.types import DiscordanceKind, ReadResult

_DISCORDANCE_WORDS = {
    DiscordanceKind.REPORT_DENIES: "report denies",
    DiscordanceKind.REPORT_OMITS: "report omits",
    DiscordanceKind.REPORT_ASSERTS: "report asserts",
}


def read_command(
    paths: Annotated[list[Path], typer.Argument(help="DICOM, PNG or JPEG files, or folders of them.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (schema: januscxr/schemas/read-output.schema.json).")
    ] = False,
    heatmaps: Annotated[
        Path | None, typer.Option("--heatmaps", help="Write a PNG overlay per flagged finding into this folder.")
    ] = None,
    classifier: Annotated[str | None, typer.Option(help="Registered classifier (see `januscxr models list`).")] = None,
    reporter: Annotated[
        str | None,
        typer.Option(
            help="Registered reporter: findings-composer (default) or a Janus model (`januscxr models list`)."
        ),
    ] = None,
    allow_lateral: Annotated[bool, typer.Option("--allow-lateral", help="Read lateral views too.")] = False,
    gate: Annotated[
        str | None,
        typer.Option(envvar="JANUSCXR_GATE", help="Registered chest-radiograph gate (default: the bundled one)."),
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="JANUSCXR_MODELS_DIR", help="Folder of pulled Janus weights (default ~/.cache/januscxr/models)."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="Janus: cuda, cpu or auto (CUDA when available).")] = None,
    precision: Annotated[
        str, typer.Option(help="Janus: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16 or int8 (CPU).")
    ] = "auto",
    max_new_tokens: Annotated[int, typer.Option(help="Janus: longest draft, in tokens.")] = 512,
    stream: Annotated[bool, typer.Option("--stream", help="Janus: print the draft as it is generated.")] = False,
    batch_size: Annotated[
        int, typer.Option(help="Janus: studies drafted together (same drafts as one by one; faster on a GPU).")
    ] = 1,
    max_pixels: Annotated[
        int,
        typer.Option(min=1, help="Refuse images with more pixels (rows x columns x frames) before decoding them."),
    ] = DEFAULT_MAX_PIXELS,
) -> None:
    """Read chest X-rays: critical findings first, then the draft report."""
    search = search_images(paths)
    files = search.files
    if not files and not search.errors:
        raise typer.BadParameter("no DICOM, PNG or JPEG files found", param_hint="PATHS")
    chosen = _load_reporter(
        reporter,
        models_dir=models_dir,
        device=device,
        precision=precision,
        max_new_tokens=max_new_tokens,
        stream=stream and not as_json,
    )
    records: list[dict[str, object]] = []
    errors: list[tuple[Path, JanusCxrError]] = list(search.errors)
    for _, error in errors:
        if not as_json:
            typer.echo(f"error: {error}", err=True)
    outcomes = read_batches(
        files,
        batch_size=batch_size,
        classifier=classifier,
        reporter=chosen,
        require_frontal=not allow_lateral,
        gate=gate,
    )
    progress = tqdm(outcomes, total=len(files), desc="reading", unit="image", disable=len(files) < 2 or None)
    with pixel_limit(max_pixels):  # read_batches reads lazily, inside this block
        for path, outcome in progress:
            if isinstance(outcome, JanusCxrError):
                errors.append((path, outcome))
                if not as_json:
                    typer.echo(f"error: {outcome}", err=True)
                continue
            if stream and chosen is not None and not as_json:
                typer.echo("")  # end the streamed draft's line
            written = _write_heatmaps(outcome, heatmaps) if heatmaps else {}
            records.append(result_record(outcome, written))
            if not as_json:
                typer.echo(render_summary(outcome, written))
    if as_json:
        typer.echo(json.dumps(output_record(records, [error_record(str(p), e) for p, e in errors]), indent=2))
    _finish(len(files) + len(search.errors), errors, quiet=as_json)


def _load_reporter(name: str | None, *, stream: bool, **options: object) -> Reporter | None:
    """The reporter, loaded once for all files; a missing model ends the command with its message."""
    if name is None or name == DEFAULT_REPORTER:
        return None
    on_text = (lambda index, text: typer.echo(text, nl=False)) if stream else None
    try:
        return load_reporter(name, on_text=on_text, **options)  # type: ignore[arg-type]
    except JanusCxrError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(exit_code_for(error)) from None


def render_summary(result: ReadResult, heatmap_files: dict[str, str]) -> str:
    """A readable block: flagged findings (critical first), the rest, then the report."""
    image = result.image
    kind = " ".join(
        x for x in (image.modality, image.view_position.value if image.view_position.is_frontal else None) if x
    )
    lines = [f"== {image.source}  [{kind or 'image'} {image.shape[1]}x{image.shape[0]}]"]
    lines.append(f"   model {result.prediction.model_id} {result.prediction.model_version}")
    for finding in result.prediction.ordered():
        mark = "!" if finding.critical else ("*" if finding.flagged else " ")
        status = ("POSSIBLE" if finding.uncertain else "FLAGGED") if finding.flagged else "-"
        status += " URGENT" if finding.urgent else ""
        side = f" {finding.laterality.value}" if finding.laterality else ""
        p, threshold, urgent = probability_texts(finding.probability, finding.threshold, finding.urgent_threshold)
        urgent = "never urgent" if finding.urgent_threshold is None else f"urgent {urgent}"
        lines.append(f" {mark} {finding.finding.value:<28} p={p} (threshold {threshold}, {urgent})  {status}{side}")
    if result.report.reporter != DEFAULT_REPORTER:
        lines.append(f"   draft by {result.report.reporter}, for a radiologist to review")
    lines += ["", "FINDINGS:", f"  {result.report.findings}", "IMPRESSION:"]
    lines += [f"  {line}" for line in result.report.impression.splitlines()]
    for item in result.discordances:
        quote = f': "{item.sentence}"' if item.sentence else ""
        p, threshold = probability_texts(item.probability, item.threshold)
        lines.append(
            f" {'!' if item.critical else '?'} {_DISCORDANCE_WORDS[item.kind]} {item.finding.value} "
            f"(classifier p={p}, threshold {threshold}){quote}"
        )
    lines += [f"  heatmap {name}: {path}" for name, path in heatmap_files.items()]
    lines.append(f"   ({result.timings_ms['total_ms']:.0f} ms; decision support, not a diagnosis)\n")
    return "\n".join(lines)


def _write_heatmaps(result: ReadResult, folder: Path) -> dict[str, str]:
    stem = Path(result.image.source).stem
    written: dict[str, str] = {}
    for finding in result.flagged:
        if finding.heatmap is not None:
            name = finding.finding.value.lower().replace(" ", "_")
            path = write_heatmap_overlay(result.image.pixels, finding.heatmap, folder / f"{stem}_{name}.png")
            written[finding.finding.value] = str(path)
    return written


def _finish(total: int, errors: list[tuple[Path, JanusCxrError]], *, quiet: bool) -> None:
    if not errors:
        return
    if not quiet:
        typer.echo(f"\n{total - len(errors)} of {total} read; {len(errors)} failed:", err=True)
        for _, error in errors:
            typer.echo(f"  {error}", err=True)
    codes = {exit_code_for(e) for _, e in errors}
    raise typer.Exit(codes.pop() if len(codes) == 1 else 1)
