"""``januscxr serve``: the reading room on http://HOST:PORT."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Images, display PNGs and the SQLite database.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL, e.g. postgresql+psycopg://...")] = None,
    classifier: Annotated[str | None, typer.Option(help="Registered classifier (see `januscxr models list`).")] = None,
    reporter: Annotated[str | None, typer.Option(help="Registered reporter.")] = None,
    workers: Annotated[int | None, typer.Option(help="Inference worker threads.")] = None,
    processes: Annotated[
        int | None, typer.Option(help="Web processes on the one port (default 1); workers and listener run once.")
    ] = None,
    watch: Annotated[Path | None, typer.Option(help="Folder to watch for new DICOM/PNG/JPEG files.")] = None,
    study_mode: Annotated[
        bool | None, typer.Option("--study-mode/--no-study-mode", help="Randomise cases to AI-assisted vs standard.")
    ] = None,
) -> None:
    """Start the reading room: worklist, viewer, report editor and sign-off (settings: JANUSCXR_*)."""
    logging.getLogger("januscxr").setLevel(logging.INFO)  # a service: say what it starts and meets
    import uvicorn

    from januscxr.server import create_app, load_settings
    from januscxr.server.deps import ReadingRoom
    from januscxr.server.services import serve_web_processes
    from januscxr.storage.users import count_users

    flags = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "database_url": database_url,
        "classifier": classifier,
        "reporter": reporter,
        "inference_workers": workers,
        "processes": processes,
        "watch_dir": watch,
        "study_mode": study_mode,
    }
    settings = load_settings(**flags)
    os.umask(0o077)  # whatever else the server writes (SQLite temporaries, exports) is private too
    app = create_app(settings)  # with --processes N: this process's room runs the background services
    room: ReadingRoom = app.state.room
    with room.db.read() as session:
        if count_users(session) == 0:
            typer.echo(
                "No users yet. Create the administrator and a radiologist, then log in:\n"
                f"  januscxr users add admin --role admin --data-dir {settings.data_dir}\n"
                f"  januscxr users add NAME --role radiologist --data-dir {settings.data_dir}",
                err=True,
            )
    typer.echo(f"reading room on http://{settings.host}:{settings.port}  (data: {settings.data_dir})", err=True)
    if settings.processes > 1:
        serve_web_processes(room, flags=flags)
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
