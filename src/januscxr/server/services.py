"""What runs once beside the web: start-up reconciliation, the workers, the watched folder, the
DICOM listener and the DICOMweb poller; and ``januscxr serve --processes N``, N web processes behind one port.

With one process (the default) the app's lifespan runs :func:`background_services` around the
web. With N, the ``serve`` process runs them and uvicorn's supervisor starts N web processes
(:func:`januscxr.server.app.web_process_app`) that share its socket. A web process keeps nothing
a request needs in memory: sessions, CSRF tokens, the login throttle and the job queue are rows
in the database, so any process can answer any request. Uploads through a web process are
queued as jobs (:class:`QueueOnlyPool`) that the ``serve`` process's idle workers claim within
``job_poll_s``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from januscxr.errors import ConfigurationError
from januscxr.pacs import DicomListener, Disposition, ListenerConfig, StoreResult
from januscxr.pacs.dicomweb import DicomwebConfig, DicomwebPoller
from januscxr.server.datafolder import SPOOL, reconcile_data_dir
from januscxr.server.deps import ReadingRoom
from januscxr.server.inference import InferencePool
from januscxr.server.ingest import FolderWatcher, ingest_file
from januscxr.server.outbox import start_outbox_sender
from januscxr.server.settings import Settings, load_settings
from januscxr.storage import audit
from januscxr.storage.database import Database
from januscxr.storage.jobs import enqueue_job

logger = logging.getLogger(__name__)

DEFAULT_STUDY_QUIET_S = 10.0  # Settings.study_quiet_s
WEB_PROCESS_APP = "januscxr.server.app:web_process_app"
WEB_PROCESS_FLAGS_ENV = "JANUSCXR_WEB_PROCESS_FLAGS"  # the serve command's flags, as JSON, for its web processes


@contextmanager
def background_services(room: ReadingRoom) -> Iterator[None]:
    """Reconcile the data folder, queue images the last run left unread, then run the workers, the watched
    folder, the DICOM listener and the poller until the block ends (once per deployment, never per web process)."""
    reconcile_data_dir(room.db, room.data_dir)  # after a crash: before anything is ingested or queued
    queued = room.pool.requeue_pending()
    if queued:
        logger.info("queued %d images left unread by the last run", queued)
    room.pool.start()  # also reads jobs queued by other processes, and those whose worker died
    if room.settings.watch_dir is not None:
        room.watcher = FolderWatcher(room.settings.watch_dir, room.settings.watch_interval_s, _watch_ingest(room))
        room.watcher.start()
    listener = None
    if room.settings.dicom_port is not None:
        quiet_s = room.settings.study_quiet_s  # a study is read once its instances stop arriving
        receiver = DicomIngest(room.db, room.data_dir, submit=room.pool.submit, study_quiet_s=quiet_s)
        listener = dicom_listener(room.settings, receiver)
        listener.start()
    poller = start_dicomweb_poller(room)
    sender = start_outbox_sender(room.db, room.settings)  # AI results and signed reports to the PACS, RIS, EHR
    try:
        yield
    finally:
        if sender is not None:
            sender.stop()
        if poller is not None:
            poller.stop()
        if listener is not None:
            listener.stop()
        if room.watcher is not None:
            room.watcher.stop()
        room.pool.shutdown()


def _watch_ingest(room: ReadingRoom) -> Any:
    def ingest(path: Path) -> Any:
        outcome = ingest_file(room.db, room.data_dir, path, name=path.name, origin="watch")
        if outcome.image_id is not None:
            room.pool.submit(outcome.image_id)
        return outcome

    return ingest


class DicomIngest:
    """The DICOM listener's receiver: the ingest of uploads and the watched folder, then the model queue."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        submit: Callable[..., object] | None = None,
        study_quiet_s: float = DEFAULT_STUDY_QUIET_S,
        origin: str = "dicom",
    ) -> None:
        # submit(image_id, quiet_s=...) as InferencePool.submit: the study is read once quiet that long.
        # Without one (`januscxr dicom listen`, `dicom poll`) the job row is written here, for any worker.
        self.db, self.data_dir, self.study_quiet_s = db, data_dir, study_quiet_s
        self._submit = submit if submit is not None else self._queue
        self.origin = origin  # "dicom" (the listener) or "dicomweb" (the poller; calling_ae_title: the server's name)

    def store(self, path: Path, *, name: str, calling_ae_title: str) -> StoreResult:
        source = f"{self.origin}:{calling_ae_title.strip()}"
        outcome = ingest_file(self.db, self.data_dir, path, name=name, origin=self.origin, study_source=source)
        if outcome.error and not outcome.duplicate:
            return StoreResult(Disposition.REFUSED, outcome.error)
        if outcome.duplicate:
            return StoreResult(Disposition.DUPLICATE, outcome.error)
        if outcome.image_id is not None:
            self._submit(outcome.image_id, quiet_s=self.study_quiet_s)
        return StoreResult(Disposition.STORED)

    def _queue(self, image_id: int, *, quiet_s: float) -> None:
        with self.db.write() as session:
            enqueue_job(session, image_id, quiet_s=quiet_s)

    def skip(self, *, calling_ae_title: str, reason: str) -> None:
        with self.db.write() as session:
            detail = {"calling_ae_title": calling_ae_title, "reason": reason}
            audit.record_event(session, f"{self.origin}_skipped", detail=detail)


def dicom_listener(settings: Settings, receiver: DicomIngest) -> DicomListener:
    """The DIMSE listener of ``settings`` (``dicom_*``), staging under ``<data_dir>/spool/dicom``."""
    config = ListenerConfig(
        ae_title=settings.dicom_ae_title,
        port=settings.dicom_port or 0,
        bind_address=settings.dicom_bind_address,
        allowed_callers=tuple(settings.dicom_allowed_callers),
        accept_secondary_capture=settings.dicom_accept_secondary_capture,
    )
    return DicomListener(config, receiver, staging_dir=settings.data_dir / SPOOL / "dicom")


def dicomweb_poller(settings: Settings, db: Database, receiver: DicomIngest) -> DicomwebPoller:
    """The DICOMweb poller of ``settings`` (``dicomweb_*``), staging under ``<data_dir>/spool/dicomweb``."""
    return DicomwebPoller(dicomweb_config(settings), receiver, db, staging_dir=settings.data_dir / SPOOL / "dicomweb")


def dicomweb_config(settings: Settings) -> DicomwebConfig:
    """The poller's configuration from ``settings``; ConfigurationError when ``dicomweb_url`` is unset."""
    if not settings.dicomweb_url:
        raise ConfigurationError("dicomweb_url: not set; expected the DICOMweb root of the PACS to poll")
    password, token = settings.dicomweb_password, settings.dicomweb_token
    return DicomwebConfig(
        url=settings.dicomweb_url,
        name=settings.dicomweb_name,
        username=settings.dicomweb_username,
        password=password.get_secret_value() if password else None,
        token=token.get_secret_value() if token else None,
        poll_s=settings.dicomweb_poll_s,
        timeout_s=settings.dicomweb_timeout_s,
        modalities=tuple(modality.strip().upper() for modality in settings.dicomweb_modalities),
        body_part=settings.dicomweb_body_part or None,
        station=settings.dicomweb_station or None,
        institution=settings.dicomweb_institution or None,
        overlap_days=settings.dicomweb_overlap_days,
        max_attempts=settings.dicomweb_max_attempts,
    )


def start_dicomweb_poller(room: ReadingRoom) -> DicomwebPoller | None:
    """Start polling when ``dicomweb_url`` is set; None otherwise."""
    if not room.settings.dicomweb_url:
        return None
    quiet_s = room.settings.study_quiet_s
    receiver = DicomIngest(room.db, room.data_dir, submit=room.pool.submit, study_quiet_s=quiet_s, origin="dicomweb")
    poller = dicomweb_poller(room.settings, room.db, receiver)
    poller.start()
    return poller


class QueueOnlyPool(InferencePool):
    """The job queue of a web process: ``submit`` queues a job row; the ``serve`` process's
    workers read it. No worker thread, decoder or model ever starts here."""

    def start(self) -> None:
        return None


def serve_web_processes(room: ReadingRoom, *, flags: Mapping[str, object]) -> None:
    """Run the background services here and ``room.settings.processes`` web processes on one port
    until SIGTERM or SIGINT (uvicorn's supervisor passes it on and waits for them).

    ``flags`` are the ``serve`` command's flags: each web process loads its settings from them,
    the environment and the configuration file, as this process did."""
    import uvicorn

    settings = room.settings
    os.environ[WEB_PROCESS_FLAGS_ENV] = json.dumps(dict(flags), default=str)
    try:
        with background_services(room):
            logger.info("background services started; starting %d web processes", settings.processes)
            uvicorn.run(
                WEB_PROCESS_APP,
                factory=True,
                workers=settings.processes,
                host=settings.host,
                port=settings.port,
                log_level="info",
                proxy_headers=False,
            )
    finally:
        room.db.dispose()


def web_process_settings() -> Settings:
    """The settings of a web process started by :func:`serve_web_processes`."""
    flags = json.loads(os.environ.get(WEB_PROCESS_FLAGS_ENV, "{}"))
    return load_settings(**flags)
