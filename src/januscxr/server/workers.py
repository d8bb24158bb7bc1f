"""Workers alone, without the web: what ``januscxr worker`` runs, in as many processes as wanted.

Each worker process also sends the outbox (``outbound_*`` settings) beside the ``serve`` process.

Every worker process claims jobs from the same database as the reading room
(:mod:`januscxr.storage.jobs`); on SQLite that means the same machine and data folder, on
PostgreSQL any machine that shares the data folder.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from januscxr.io import read_image
from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.inference import InferencePool
from januscxr.server.outbox import start_outbox_sender
from januscxr.server.settings import Settings
from januscxr.storage.database import open_database
from januscxr.types import Image

logger = logging.getLogger(__name__)

STOP_CHECK_S = 1.0


def run_workers(
    settings: Settings, *, decode: Callable[..., Image] = read_image, stop: threading.Event | None = None
) -> None:
    """Read queued images with ``settings.inference_workers`` threads until ``stop`` is set, or
    SIGTERM or SIGINT arrive (from the main thread); the jobs being read are finished first."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    prepare_data_dir(settings.data_dir)
    db = open_database(settings.resolved_database_url)
    pool = InferencePool.from_settings(db, settings, decode=decode)
    sender = None
    try:
        queued = pool.requeue_pending()
        pool.start()
        sender = start_outbox_sender(db, settings)  # sends beside the serve process's sender, item by item
        logger.info("%d worker(s) reading; %d unread image(s) queued", settings.inference_workers, queued)
        while not stop.wait(STOP_CHECK_S):
            pass
    finally:
        if sender is not None:
            sender.stop()
        pool.shutdown()
        db.dispose()
