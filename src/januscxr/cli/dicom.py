"""``januscxr dicom listen`` and ``januscxr dicom poll``: the DICOM listener or the DICOMweb poller on its own."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

app = typer.Typer(help="DICOM networking: receive chest radiographs from a modality or PACS.", no_args_is_help=True)


@app.command("listen")
def listen_command(
    port: Annotated[int | None, typer.Option(help="Port to listen on (setting dicom_port).")] = None,
    ae_title: Annotated[str | None, typer.Option(help="The listener's AE title (default JANUSCXR).")] = None,
    bind_address: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    allow: Annotated[
        list[str] | None, typer.Option(help='Allowed calling AE title, "AE" or "AE@host"; repeat for more.')
    ] = None,
    accept_secondary_capture: Annotated[
        bool | None,
        typer.Option("--accept-secondary-capture/--skip-secondary-capture", help="Store Secondary Capture images."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="The reading room's data folder (as given to `serve`).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL, when not the data folder's SQLite file.")
    ] = None,
) -> None:
    """Receive instances into the reading room's data folder until interrupted (settings: JANUSCXR_DICOM_*).

    Received images are queued for `januscxr worker` processes (or the reading room's workers) to read.
    To receive and read in one process, set dicom_port for `januscxr serve` instead.
    """
    logging.getLogger("januscxr").setLevel(logging.INFO)  # a service: say what it starts and meets
    from januscxr.server import load_settings
    from januscxr.server.datafolder import prepare_data_dir
    from januscxr.server.services import DicomIngest, dicom_listener
    from januscxr.storage.database import open_database

    settings = load_settings(
        dicom_port=port,
        dicom_ae_title=ae_title,
        dicom_bind_address=bind_address,
        dicom_allowed_callers=allow or None,
        dicom_accept_secondary_capture=accept_secondary_capture,
        data_dir=data_dir,
        database_url=database_url,
    )
    if settings.dicom_port is None:
        raise typer.BadParameter("no port: expected --port or the setting dicom_port (JANUSCXR_DICOM_PORT)")
    os.umask(0o077)  # received images hold patient data
    prepare_data_dir(settings.data_dir)
    db = open_database(settings.resolved_database_url)
    listener = dicom_listener(settings, DicomIngest(db, settings.data_dir, study_quiet_s=settings.study_quiet_s))
    listener.start()
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    typer.echo(
        f"DICOM listener {listener.ae_title} on {settings.dicom_bind_address}:{listener.port}  "
        f"(data: {settings.data_dir})",
        err=True,
    )
    try:
        stopped.wait()
    finally:
        listener.stop()
        db.dispose()


@app.command("poll")
def poll_command(
    url: Annotated[str | None, typer.Option(help="DICOMweb root of the PACS (setting dicomweb_url).")] = None,
    name: Annotated[str | None, typer.Option(help='The server\'s name; studies show "dicomweb:<name>".')] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll once, report, and exit.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="The reading room's data folder (as given to `serve`).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL, when not the data folder's SQLite file.")
    ] = None,
) -> None:
    """Poll a PACS by DICOMweb (QIDO-RS, WADO-RS) into the reading room's data folder (settings: JANUSCXR_DICOMWEB_*).

    Credentials come from the settings (JANUSCXR_DICOMWEB_USERNAME/PASSWORD or _TOKEN), never flags.
    Retrieved images are queued for `januscxr worker` processes (or the reading room's workers) to read.
    To poll and read in one process, set dicomweb_url for `januscxr serve` instead.
    """
    logging.getLogger("januscxr").setLevel(logging.INFO)  # a service: say what it starts and meets
    from januscxr.server import load_settings
    from januscxr.server.datafolder import prepare_data_dir
    from januscxr.server.services import DicomIngest, dicomweb_poller
    from januscxr.storage.database import open_database

    settings = load_settings(dicomweb_url=url, dicomweb_name=name, data_dir=data_dir, database_url=database_url)
    if not settings.dicomweb_url:
        raise typer.BadParameter("no URL: expected --url or the setting dicomweb_url (JANUSCXR_DICOMWEB_URL)")
    os.umask(0o077)  # retrieved images hold patient data
    prepare_data_dir(settings.data_dir)
    db = open_database(settings.resolved_database_url)
    poller = dicomweb_poller(
        settings, db, DicomIngest(db, settings.data_dir, study_quiet_s=settings.study_quiet_s, origin="dicomweb")
    )
    try:
        if once:
            result = poller.poll_once()
            typer.echo(
                f"{result.found} studies found, {result.new} new, {result.requeued} requeued, "
                f"{result.retrieved} retrieved, {result.instances} instances stored"
                + (f"; stopped: {result.error}" if result.error else "")
            )
            if result.problem:
                typer.echo(f"problems: {result.problem}", err=True)
            if result.error:
                raise typer.Exit(1)
            return
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
        poller.start()
        typer.echo(f"DICOMweb poller {settings.dicomweb_name}: every {settings.dicomweb_poll_s:g} s", err=True)
        stopped.wait()
        poller.stop()
    finally:
        db.dispose()
