"""The background worker pool: decode, classify and draft each new image, off the request path.

Uploads and page loads only queue work here, as rows of the durable job queue
(:mod:`januscxr.storage.jobs`) that workers in this process or in ``januscxr worker`` processes
claim; a study shows on the worklist as pending until its result is stored. Decoding runs in a
spawned child process (:class:`~januscxr.server.decoder.ImageDecoder`) with a time limit, so that
one pathological file is abandoned instead of holding a worker; the model runs in worker threads (torch and NumPy release the GIL). PNGs and results are stored through
``storage``; no tensor leaves this module.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from januscxr.errors import JanusCxrError, LateralViewError
from januscxr.io import read_image
from januscxr.io.limits import DEFAULT_MAX_PIXELS
from januscxr.models.base import Classifier, Reporter
from januscxr.models.registry import DEFAULT_CLASSIFIER
from januscxr.pipeline import DEFAULT_REPORTER, cached_classifier, load_reporter, read_image_value
from januscxr.server.datafolder import DISPLAY, write_private
from januscxr.server.decoder import DEFAULT_READ_TIMEOUT_S, ImageDecoder
from januscxr.server.failures import ai_status_for, describe_failure
from januscxr.server.imaging import display_png, heatmap_png
from januscxr.server.outbox import OutboundConfig
from januscxr.server.outbox_objects import queue_ai_result
from januscxr.storage import audit
from januscxr.storage.database import Database
from januscxr.storage.jobs import (
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    ClaimedJob,
    LeaseLostError,
    claim_job,
    count_active_jobs,
    enqueue_job,
    enqueue_pending,
    fail_attempt,
    finish_job,
    has_claimable_job,
    next_due_in,
    renew_lease,
)
from januscxr.storage.reports import take_ai_result
from januscxr.storage.studies import get_image, is_late_instance, record_ai_failure, record_ai_result, set_display
from januscxr.types import Image, ViewPosition

if TYPE_CHECKING:
    from januscxr.server.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_POLL_S = 1.0
IDLE_CHECK_S = 0.05  # how often wait_idle looks at the queue


class InferencePool:
    """Worker threads reading the images of the durable job queue (:mod:`januscxr.storage.jobs`).

    ``submit`` queues a job row and wakes a worker at once; idle workers also look every
    ``poll_s`` for jobs other processes queued, and wake when a job held back for its study
    (``submit(..., quiet_s=...)``) comes due. Each claimed job is held under a lease of
    ``lease_s`` seconds, renewed while it is read, so that another worker (here or in a
    ``januscxr worker`` process) takes it again only once this process has died.
    """

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        classifier: Classifier | str | None = None,
        reporter: Reporter | str | None = None,
        gate: str | None = None,
        reporter_options: Mapping[str, Any] | None = None,
        workers: int = 1,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        decode: Callable[..., Image] = read_image,
        lease_s: float = DEFAULT_LEASE_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        poll_s: float = DEFAULT_POLL_S,
        outbound: OutboundConfig | None = None,
    ) -> None:
        self.db = db
        self.outbound = outbound or OutboundConfig()  # where the AI objects of each read are queued
        self.data_dir = data_dir
        self._classifier = classifier
        self._reporter = reporter
        self._gate = gate  # a registered name; None: the pipeline's default gate
        self._reporter_options = dict(reporter_options or {})  # models_dir, device, precision, max_new_tokens
        self._workers, self._lease_s, self._max_attempts, self._poll_s = workers, lease_s, max_attempts, poll_s
        self._name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"  # leased_by, per thread
        self._threads: list[threading.Thread] = []
        self._wake = threading.Condition()
        self._nudges = 0  # submits not yet picked up
        self._stopping = threading.Event()
        self._held: dict[int, ClaimedJob] = {}  # jobs being read here, whose leases the keeper renews
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # loading a model can take minutes: never under self._lock
        self._decoders: queue.SimpleQueue[ImageDecoder] = queue.SimpleQueue()
        self._all_decoders = [
            ImageDecoder(timeout_s=read_timeout_s, max_pixels=max_image_pixels, decode=decode) for _ in range(workers)
        ]
        for decoder in self._all_decoders:
            self._decoders.put(decoder)

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        *,
        classifier: Classifier | str | None = None,
        reporter: Reporter | str | None = None,
        decode: Callable[..., Image] = read_image,
    ) -> InferencePool:
        """The pool ``settings`` describe (``classifier``/``reporter`` override the settings' names)."""
        return cls(
            db,
            settings.data_dir,
            classifier=classifier or settings.classifier,
            reporter=reporter or settings.reporter,
            gate=settings.gate,
            reporter_options=settings.reporter_options(),
            workers=settings.inference_workers,
            read_timeout_s=settings.read_timeout_s,
            max_image_pixels=settings.max_image_pixels,
            decode=decode,
            lease_s=settings.job_lease_s,
            max_attempts=settings.job_max_attempts,
            poll_s=settings.job_poll_s,
            outbound=OutboundConfig.from_settings(settings),
        )

    def submit(self, image_id: int, *, quiet_s: float = 0.0) -> None:
        """Queue a job to read ``image_id`` (durably: it survives a restart) and wake a worker.

        With ``quiet_s`` > 0 (an instance received over the network) the study is read once it has
        gone ``quiet_s`` seconds without a new instance (:func:`~januscxr.storage.jobs.enqueue_job`)."""
        with self.db.write() as session:
            enqueue_job(session, image_id, max_attempts=self._max_attempts, quiet_s=quiet_s)
        self._nudge()

    def requeue_pending(self) -> int:
        """Queue images left unread, without a queued or running job; returns how many."""
        with self.db.write() as session:
            ids = enqueue_pending(session, max_attempts=self._max_attempts)
        self._nudge(len(ids))
        return len(ids)

    def start(self) -> None:
        """Start the worker threads and the lease keeper (once; ``submit`` does it too)."""
        with self._lock:
            if self._threads or self._stopping.is_set():
                return
            for index in range(self._workers):
                owner = f"{self._name}/{index}"
                self._threads.append(threading.Thread(target=self._work, args=(owner,), name=f"januscxr-infer-{index}"))
            self._threads.append(threading.Thread(target=self._keep_leases, name="januscxr-leases"))
            for thread in self._threads:
                thread.daemon = True
                thread.start()

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Block until no job is queued or running, in any process (tests and the CLI use this)."""
        self.start()
        deadline = time.monotonic() + timeout_s
        while True:
            with self.db.read() as session:
                active = count_active_jobs(session)
            if not active:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{active} job(s) still queued or running after {timeout_s:g} s")
            time.sleep(IDLE_CHECK_S)

    def shutdown(self) -> None:
        """Stop the workers after the jobs they are reading; queued jobs stay queued in the database."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join()
        for decoder in self._all_decoders:
            decoder.close()

    def _nudge(self, count: int = 1) -> None:
        if not count:
            return
        self.start()
        with self._wake:
            self._nudges += count
            self._wake.notify(count)

    def _work(self, owner: str) -> None:
        while not self._stopping.is_set():
            try:
                job, idle_s = self._claim(owner)
            except Exception:  # the database is away: try again after a pause
                logger.exception("could not claim a job")
                job, idle_s = None, self._poll_s
            if job is None:
                self._idle(idle_s)
            else:
                self._read_safely(job)

    def _idle(self, timeout_s: float) -> None:
        with self._wake:
            if not self._nudges and not self._stopping.is_set():
                self._wake.wait(timeout_s)
            self._nudges = max(0, self._nudges - 1)

    def _claim(self, owner: str) -> tuple[ClaimedJob | None, float]:
        """A claimed job, or None and how long to sleep: ``poll_s``, or less when a held-back job comes due sooner."""
        with self.db.read() as session:  # a read first: idle workers never queue on the write lock
            if not has_claimable_job(session):
                due_in = next_due_in(session)
                return None, self._poll_s if due_in is None else min(self._poll_s, due_in)
        with self.db.write() as session:
            job = claim_job(session, owner, lease_s=self._lease_s)
        if job is not None:
            with self._lock:
                self._held[job.id] = job
        return job, self._poll_s

    def _keep_leases(self) -> None:
        while not self._stopping.wait(self._lease_s / 3):
            with self._lock:
                held = list(self._held.values())
            for job in held:
                try:
                    with self.db.write() as session:
                        renew_lease(session, job, lease_s=self._lease_s)
                except Exception:
                    logger.exception("could not renew the lease of job %d", job.id)

    def _read_safely(self, job: ClaimedJob) -> None:
        try:
            with self.db.read() as session:
                path = self.data_dir / get_image(session, job.image_id).file_path
            self._read(job, path)
        except LeaseLostError:
            logger.warning("job %d: lease lost; the result is discarded (another worker reads it)", job.id)
        except JanusCxrError as error:
            logger.warning("image %d not read: %s", job.image_id, type(error).__name__)
            self._settle(job, error)
        except Exception as error:
            logger.exception("image %d: unexpected failure in the worker (attempt %d)", job.image_id, job.attempt)
            self._retry(job, error)
        finally:
            with self._lock:
                self._held.pop(job.id, None)

    def _settle(self, job: ClaimedJob, error: JanusCxrError) -> None:
        """The image cannot be read (or is not what the AI reads): record why, in the reader's
        words (:func:`describe_failure`), and finish the job; trying again would fail the same way."""
        try:
            with self.db.write() as session:
                finish_job(session, job)
                image = get_image(session, job.image_id)
                record_ai_failure(session, image, describe_failure(error), status=ai_status_for(error))
        except LeaseLostError:
            logger.warning("job %d: lease lost before its failure was stored", job.id)

    def _retry(self, job: ClaimedJob, error: Exception) -> None:
        """Queue the job again, or after its last attempt set it aside with the image marked failed."""
        try:
            with self.db.write() as session:
                if fail_attempt(session, job, describe_failure(error)):
                    logger.warning("job %d set aside after %d attempts", job.id, job.attempt)
        except LeaseLostError:
            logger.warning("job %d: lease lost before its failure was stored", job.id)
        except Exception:
            logger.exception("job %d: its failure could not be stored; it is taken again when its lease ends", job.id)

    def _read(self, job: ClaimedJob, path: Path) -> None:
        image_id = job.image_id
        decoder = self._decoders.get()
        try:
            image = decoder.read(path)
        finally:
            self._decoders.put(decoder)
        size = self._store_display(image_id, image)
        if image.view_position is ViewPosition.LATERAL:
            raise LateralViewError(
                f"image {image_id} is a lateral view; shown, but the classifier reads frontal views only"
            )
        result = read_image_value(image, classifier=self._model(), reporter=self._reporter_backend(), gate=self._gate)
        overlays = {r.finding: heatmap_png(r.heatmap, size) for r in result.flagged if r.heatmap is not None}
        with self.db.write() as session:
            finish_job(session, job)  # first: a worker that lost its lease stores nothing
            stored = get_image(session, image_id)
            late = is_late_instance(stored)  # before its own read moves the study's ai_ready_at
            ai_result = record_ai_result(
                session, stored, result.prediction, result.report, overlays, discordances=result.discordances
            )
            report, change = take_ai_result(session, stored.study, ai_result, late=late)
            if self.outbound.is_enabled:  # in this transaction: a stored result is always sent
                queue_ai_result(
                    session,
                    self.outbound,
                    self.data_dir,
                    stored,
                    result.prediction,
                    pixels=image.pixels,
                    draft=result.report,
                )
            if late:  # in the audit log: the draft was replaced, or a reader's text kept (DraftChange)
                detail = {"image_id": image_id, "ai_result_id": ai_result.id, "draft": change.value}
                audit.record_event(
                    session, "late_instance", study_id=stored.study_id, report_id=report.id, detail=detail
                )
        logger.info(
            "study %d image %d read by %s; draft %s", stored.study_id, image_id, result.prediction.model_id, change
        )

    def _store_display(self, image_id: int, image: Image) -> tuple[int, int]:
        """Write and record the display PNG (the viewer shows it while the model runs); its (width, height)."""
        png, (width, height) = display_png(image.pixels)
        relative = f"{DISPLAY}/{image_id}.png"
        write_private(self.data_dir / relative, png)
        with self.db.write() as session:
            set_display(session, get_image(session, image_id), display_path=relative, rows=height, columns=width)
        return width, height

    def _model(self) -> Classifier:
        if self._classifier is None or isinstance(self._classifier, str):
            with self._load_lock:  # load once, in the worker, never at startup
                models_dir = self._reporter_options.get("models_dir")  # published experts live there too
                self._classifier = cached_classifier(self._classifier or DEFAULT_CLASSIFIER, models_dir)
        return self._classifier

    def _reporter_backend(self) -> Reporter:
        if self._reporter is None or isinstance(self._reporter, str):
            with self._load_lock:  # a vision-language model loads once, with the settings' device and precision
                if self._reporter is None or isinstance(self._reporter, str):
                    self._reporter = load_reporter(self._reporter or DEFAULT_REPORTER, **self._reporter_options)
        return self._reporter
