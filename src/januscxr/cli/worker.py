"""``januscxr worker``: workers that read the queued images, without the web (any number of processes)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def worker_command(
    data_dir: Annotated[Path | None, typer.Option(help="Images, display PNGs and the SQLite database.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL, e.g. postgresql+psycopg://...")] = None,
    classifier: Annotated[str | None, typer.Option(help="Registered classifier (see `januscxr models list`).")] = None,
    reporter: Annotated[str | None, typer.Option(help="Registered reporter.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker threads in this process.")] = None,
) -> None:
    """Read queued images and send the outbox until SIGTERM or Ctrl-C (settings: JANUSCXR_*, as for `januscxr serve`)."""
    logging.getLogger("januscxr").setLevel(logging.INFO)  # a service: say what it starts and meets
    from januscxr.server import load_settings
    from januscxr.server.workers import run_workers

    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        classifier=classifier,
        reporter=reporter,
        inference_workers=workers,
    )
    typer.echo(f"worker reading queued images (data: {settings.data_dir})", err=True)
    run_workers(settings)
