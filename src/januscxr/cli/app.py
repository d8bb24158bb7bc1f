"""The root ``januscxr`` command and the one place errors become exit codes."""

from __future__ import annotations

import logging
import warnings

import typer

from januscxr.cli import dicom, evaluate, export, label, models, read, serve, train, users, worker
from januscxr.errors import JanusCxrError, exit_code_for

app = typer.Typer(
    name="januscxr",
    help="Chest X-ray interpretation: findings, heatmaps and draft reports for radiologist review.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("read")(read.read_command)
app.command("label")(label.label_command)
evaluate.app.command("labeler")(label.validate_labeler_command)
app.add_typer(evaluate.app, name="eval")
app.command("serve")(serve.serve_command)
app.command("worker")(worker.worker_command)
app.add_typer(users.app, name="users")
app.add_typer(models.app, name="models")
app.add_typer(train.app, name="train")
app.add_typer(dicom.app, name="dicom")
app.command("export")(export.export_command)


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"


def main() -> None:
    """Console entry point: JanusCxrError -> one line on stderr and a non-zero exit."""
    warnings.formatwarning = _one_line_warning
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except JanusCxrError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(exit_code_for(error)) from None


if __name__ == "__main__":
    main()
