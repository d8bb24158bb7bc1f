"""``januscxr models``: the registered backends, their cards, and vision-language weights on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from januscxr.errors import UnknownModelError
from januscxr.models.base import ClassifierSpec, GateSpec
from januscxr.models.registry import (
    classifier_specs,
    gate_specs,
    get_reporter_spec,
    model_card_text,
    read_model_card,
    reporter_card_text,
    reporter_specs,
)

# The bundled composer's name (januscxr.report.compose.REPORTER_NAME, not imported: it pulls in the report layer).
COMPOSER = "findings-composer"

app = typer.Typer(help="Registered models, their cards and weights.", no_args_is_help=True)

ModelsDir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="JANUSCXR_MODELS_DIR",
        help="Folder of vision-language weights (default ~/.cache/januscxr/models).",
    ),
]


@app.command("list")
def list_command() -> None:
    """List the registered models: classifiers, the chest-radiograph gate and reporters, with their cards' headlines."""
    for spec in _bundled_specs():
        if spec.test_double:
            continue  # fakes for tests: registered, usable by name, never listed
        kind = "classifier" if isinstance(spec, ClassifierSpec) else "chest-radiograph gate"
        typer.echo(f"{spec.model_id}  ({kind}, bundled)  version {spec.version}")
        typer.echo(f"    {spec.description}")
        if isinstance(spec, ClassifierSpec):
            typer.echo(f"    findings: {', '.join(f.value for f in spec.labels)}")
        typer.echo(f"    input: {spec.input_size} px; weights: {spec.weights} (sha256 {spec.sha256})")
        card = model_card_text(spec)
        if card:
            typer.echo(f"    card: januscxr models card {spec.model_id}")
            for line in _card_summary(card):
                typer.echo(f"      {line}")
        typer.echo("")
    typer.echo(f"{COMPOSER}  (reporter, bundled): drafts from the classifier's findings alone")
    typer.echo(f"    card: januscxr models card {COMPOSER}\n")
    for reporter in reporter_specs():
        revision = reporter.revision or "revision not pinned"
        typer.echo(f"{reporter.model_id}  (reporter, {reporter.parameters} parameters)")
        typer.echo(f"    {reporter.description}")
        typer.echo(f"    weights: https://huggingface.co/{reporter.hub_repo} ({revision}); `januscxr models pull`")
        typer.echo(f"    card: januscxr models card {reporter.model_id}")
        typer.echo("")


@app.command("card")
def card_command(name: Annotated[str, typer.Argument(help="Model id, as `januscxr models list` shows it.")]) -> None:
    """Print a model's card: classifiers, the gate and reporters alike."""
    typer.echo(model_card(name))


def model_card(name: str) -> str:
    """The card of any registered model, or UnknownModelError naming every model."""
    specs = {s.model_id: s for s in _bundled_specs()}
    if name in specs:
        return model_card_text(specs[name]) or f"{name}: {specs[name].description} (no model card)"
    if name == COMPOSER:
        return read_model_card(f"docs/model_cards/{COMPOSER}.md") or f"{COMPOSER} has no model card"
    reporters = {s.model_id: s for s in reporter_specs()}
    if name in reporters:
        return reporter_card_text(reporters[name])
    listed = [n for n, s in specs.items() if not s.test_double] + [COMPOSER, *reporters]
    raise UnknownModelError(f"no model named {name!r}; expected one of: {', '.join(listed)}")


@app.command("pull")
def pull_command(
    name: Annotated[str, typer.Argument(help="Registered reporter, e.g. janus-pro-cxr-final.")],
    models_dir: ModelsDir = None,
    drop_generation: Annotated[
        bool, typer.Option("--drop-generation", help="Leave out the image-generation modules when converting.")
    ] = False,
) -> None:
    """Download a reporter's weights (resuming), convert them, record every file's sha256."""
    from januscxr.models.hub import pull_weights

    pulled = pull_weights(get_reporter_spec(name), models_dir, keep_generation=not drop_generation)
    typer.echo(f"{pulled.folder}: {pulled.files} files at revision {pulled.revision}; sha256 recorded")


@app.command("verify")
def verify_command(
    name: Annotated[str, typer.Argument(help="Registered reporter.")],
    models_dir: ModelsDir = None,
    record: Annotated[
        bool, typer.Option("--record", help="Record the files' sha256 now (after copying weights by hand).")
    ] = False,
) -> None:
    """Check a reporter's files against the sha256 recorded when they were pulled."""
    from januscxr.models.hub import require_weights, verify_weights_folder, write_manifest

    spec = get_reporter_spec(name)
    if record:
        manifest = write_manifest(require_weights(spec, models_dir), spec, spec.revision)
    else:
        manifest = verify_weights_folder(spec, models_dir)
    typer.echo(
        f"{name}: {len(manifest['files'])} files match their sha256 (revision {manifest['revision'] or 'not pinned'})"
    )


@app.command("convert")
def convert_command(
    source: Annotated[Path, typer.Argument(help="DeepSeek checkpoint folder (config.json model_type multi_modality).")],
    destination: Annotated[Path, typer.Argument(help="Folder to write the Hugging Face layout into.")],
    drop_generation: Annotated[
        bool, typer.Option("--drop-generation", help="Leave out the image-generation modules (not used for reports).")
    ] = False,
    dtype: Annotated[str | None, typer.Option(help="Cast the weights: float32, bfloat16 or float16.")] = None,
) -> None:
    """Convert DeepSeek's original Janus layout into the Hugging Face layout, checking every tensor."""
    import torch

    from januscxr.models.janus_conversion import convert_checkpoint

    cast = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype is not None and dtype not in cast:
        raise typer.BadParameter(f"{dtype!r}; expected one of {', '.join(cast)}", param_hint="--dtype")
    summary = convert_checkpoint(
        source, destination, keep_generation=not drop_generation, dtype=cast[dtype] if dtype else None
    )
    kept = "kept" if summary.generation_modules else "dropped"
    typer.echo(
        f"{destination}: {summary.tensors} tensors, {summary.parameters:,} parameters "
        f"({summary.num_image_tokens} image tokens; image-generation modules {kept}; "
        f"{summary.dropped} unused source tensors left out)"
    )


def _bundled_specs() -> list[ClassifierSpec | GateSpec]:
    return [*classifier_specs(), *gate_specs()]


def _card_summary(card: str) -> list[str]:
    """The card's summary table rows (lines starting with '|') under its first heading."""
    return [line for line in card.splitlines() if line.startswith("| ")][:8]
