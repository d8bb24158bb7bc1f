"""``januscxr models``: the registered backends, their cards, and vision-language weights on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from januscxr.errors import UnknownModelError
from januscxr.models.base import ClassifierSpec, GateSpec, ReporterSpec
from januscxr.models.registry import (
    COMPOSER_NAME,
    LOCAL_HUB,
    classifier_specs,
    find_reporter_spec,
    gate_specs,
    get_reporter_spec,
    local_reporter_specs,
    model_card_text,
    read_model_card,
    reporter_card_text,
    reporter_specs,
)

app = typer.Typer(help="Registered models, their cards and weights.", no_args_is_help=True)

ModelsDir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="JANUSCXR_MODELS_DIR",
        help="Folder of model weights: Janus reporters, converted classifiers, calibrations (~/.cache/januscxr/models).",
    ),
]


@app.command("list")
def list_command(models_dir: ModelsDir = None) -> None:
    """List the registered models: classifiers, published experts, the chest-radiograph gate and reporters."""
    from januscxr.models.expert_store import converted_status

    for spec in _bundled_specs():
        if spec.test_double:
            continue  # fakes for tests: registered, usable by name, never listed
        kind = "classifier" if isinstance(spec, ClassifierSpec) else "chest-radiograph gate"
        published = isinstance(spec, ClassifierSpec) and spec.user_weights
        where = "published expert, user's weights" if published else "bundled"
        typer.echo(f"{spec.model_id}  ({kind}, {where})  version {spec.version}")
        typer.echo(f"    {spec.description}")
        if isinstance(spec, ClassifierSpec):
            typer.echo(f"    findings: {', '.join(f.value for f in spec.labels)}")
        if isinstance(spec, ClassifierSpec) and spec.user_weights:
            typer.echo(f"    input: {spec.input_size} px; {converted_status(spec, models_dir)}")
        else:
            typer.echo(f"    input: {spec.input_size} px; weights: {spec.weights} (sha256 {spec.sha256})")
        card = model_card_text(spec)
        if card:
            typer.echo(f"    card: januscxr models card {spec.model_id}")
            for line in _card_summary(card):
                typer.echo(f"      {line}")
        typer.echo("")
    typer.echo(f"{COMPOSER_NAME}  (reporter, bundled): drafts from the classifier's findings alone")
    typer.echo(f"    card: januscxr models card {COMPOSER_NAME}\n")
    local = local_reporter_specs(models_dir)
    for reporter in [*reporter_specs(), *local.specs]:
        typer.echo(f"{reporter.model_id}  (reporter, {reporter.parameters} parameters)")
        typer.echo(f"    {reporter.description}")
        typer.echo(f"    weights: {_reporter_weights(reporter, models_dir)}")
        typer.echo(f"    card: januscxr models card {reporter.model_id}")
        if reporter.hub_repo == LOCAL_HUB:
            for line in _card_summary(reporter_card_text(reporter)):
                typer.echo(f"      {line}")
        typer.echo("")
    for problem in local.problems:
        typer.echo(f"error: {problem}", err=True)


@app.command("card")
def card_command(
    name: Annotated[str, typer.Argument(help="Model id, as `januscxr models list` shows it.")],
    models_dir: ModelsDir = None,
) -> None:
    """Print a model's card: classifiers, the gate and reporters alike, trained ones included."""
    typer.echo(model_card(name, models_dir))


def model_card(name: str, models_dir: Path | None = None) -> str:
    """The card of any registered or trained model, or UnknownModelError naming every model."""
    specs = {s.model_id: s for s in _bundled_specs()}
    if name in specs:
        return model_card_text(specs[name]) or f"{name}: {specs[name].description} (no model card)"
    if name == COMPOSER_NAME:
        return read_model_card(f"docs/model_cards/{COMPOSER_NAME}.md") or f"{COMPOSER_NAME} has no model card"
    reporters = {s.model_id: s for s in [*reporter_specs(), *local_reporter_specs(models_dir).specs]}
    if name in reporters:
        return reporter_card_text(reporters[name])
    listed = [n for n, s in specs.items() if not s.test_double] + [COMPOSER_NAME, *reporters]
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
    name: Annotated[str, typer.Argument(help="Registered reporter, or one trained into the models folder.")],
    models_dir: ModelsDir = None,
    record: Annotated[
        bool, typer.Option("--record", help="Record the files' sha256 now (after copying weights by hand).")
    ] = False,
) -> None:
    """Check a reporter's files against the sha256 recorded when they were pulled."""
    from januscxr.models.hub import require_weights, verify_weights_folder, write_manifest

    spec = find_reporter_spec(name, models_dir)
    if record:
        manifest = write_manifest(require_weights(spec, models_dir), spec, spec.revision)
    else:
        manifest = verify_weights_folder(spec, models_dir)
    typer.echo(
        f"{name}: {len(manifest['files'])} files match their sha256 (revision {manifest['revision'] or 'not pinned'})"
    )


@app.command("convert")
def convert_command(
    first: Annotated[
        str,
        typer.Argument(
            metavar="NAME|SOURCE",
            help="A published classifier (`januscxr models list`), or a DeepSeek Janus checkpoint folder.",
        ),
    ],
    second: Annotated[
        Path,
        typer.Argument(
            metavar="FILE|DESTINATION",
            help="The classifier's published file, or the folder to write Janus's Hugging Face layout into.",
        ),
    ],
    drop_generation: Annotated[
        bool, typer.Option("--drop-generation", help="Janus: leave out the image-generation modules.")
    ] = False,
    dtype: Annotated[str | None, typer.Option(help="Janus: cast the weights: float32, bfloat16 or float16.")] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Convert published weights, checking every tensor: a classifier into the models folder, or Janus.

    `januscxr models convert densenet121-res224-all nih-pc-chex-...-best.pt` writes
    <models dir>/densenet121-res224-all/ and records the sha256 of both files; the published pickle
    is read without running any code from it. `januscxr models convert SOURCE DESTINATION` converts
    DeepSeek's original Janus layout into the Hugging Face layout.
    """
    from januscxr.models.published import get_published

    expert = get_published(first)
    if expert is not None:
        from januscxr.models.checkpoint import convert_published

        done = convert_published(expert, second, models_dir)
        typer.echo(
            f"{done.weights}: {done.tensors} tensors, {done.parameters:,} parameters from {second.name} "
            f"({done.container}); sha256 {done.sha256} recorded. Use it: januscxr read --classifier {first}"
        )
        return
    _convert_janus(Path(first), second, drop_generation=drop_generation, dtype=dtype)


def _convert_janus(source: Path, destination: Path, *, drop_generation: bool, dtype: str | None) -> None:
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


@app.command("calibrate")
def calibrate_command(
    name: Annotated[str, typer.Argument(help="A registered classifier, or experts combined: a,b.")],
    manifest: Annotated[
        Path, typer.Option(help="CSV of local labelled images: path, patient_id and one 1/0/empty column per finding.")
    ],
    models_dir: ModelsDir = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Patient-grouped bootstrap resamples for the CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Refit a classifier's calibration and thresholds on a hospital's own labelled images.

    Writes <models dir>/calibration/NAME.json, used from then on by `januscxr read --classifier NAME`
    and the reading room, and a card with patient-grouped bootstrap CIs beside it.
    """
    from januscxr.models.experts import calibration_summary
    from januscxr.training.calibrate import calibrate_expert, write_calibration

    document = calibrate_expert(name, manifest, models_dir=models_dir, n_boot=bootstrap, seed=seed)
    path, card = write_calibration(document, models_dir)
    typer.echo(calibration_summary(document))
    typer.echo(f"{path}: local calibration of {name} written ({document['cases']} images); card: {card}")


def _bundled_specs() -> list[ClassifierSpec | GateSpec]:
    return [*classifier_specs(), *gate_specs()]


def _reporter_weights(spec: ReporterSpec, models_dir: Path | None) -> str:
    """Where a reporter's weights come from: its hub repository, or the folder it was trained into."""
    if spec.hub_repo == LOCAL_HUB:
        from januscxr.models.expert_store import models_root

        return f"{models_root(models_dir) / spec.model_id} (trained here); `januscxr models verify {spec.model_id}`"
    revision = spec.revision or "revision not pinned"
    return f"https://huggingface.co/{spec.hub_repo} ({revision}); `januscxr models pull`"


def _card_summary(card: str) -> list[str]:
    """The card's summary table rows (lines starting with '|') under its first heading."""
    return [line for line in card.splitlines() if line.startswith("| ")][:8]
