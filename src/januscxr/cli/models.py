"""``januscxr models``: the registered backends and their model cards."""

from __future__ import annotations

from typing import Annotated

import typer

from januscxr.models.registry import classifier_specs, get_classifier_spec, model_card_text

app = typer.Typer(help="Registered models and their cards.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List registered classifiers with the headline of their model cards."""
    for spec in classifier_specs():
        tag = "  (test double; never the default)" if spec.test_double else ""
        typer.echo(f"{spec.model_id}  version {spec.version}{tag}")
        typer.echo(f"    {spec.description}")
        typer.echo(f"    findings: {', '.join(f.value for f in spec.labels)}")
        if spec.input_size:
            typer.echo(f"    input: {spec.input_size} px; weights: {spec.weights} (sha256 {spec.sha256})")
        card = model_card_text(spec)
        if card:
            typer.echo(f"    card: {spec.model_card}")
            for line in _card_summary(card):
                typer.echo(f"      {line}")
        typer.echo("")


@app.command("card")
def card_command(name: Annotated[str, typer.Argument(help="Model id.")]) -> None:
    """Print a model's card."""
    spec = get_classifier_spec(name)
    typer.echo(model_card_text(spec) or f"{name} has no model card")


def _card_summary(card: str) -> list[str]:
    """The card's summary table rows (lines starting with '|') under its first heading."""
    return [line for line in card.splitlines() if line.startswith("| ")][:8]
