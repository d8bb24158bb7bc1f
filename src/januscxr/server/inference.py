"""The background worker pool: decode, classify and draft each new image, off the request path.

Uploads and page loads only queue work here; a study shows on the worklist as pending until
its result is stored. The pool runs ``pipeline.read_image_value`` in worker threads (torch
and NumPy release the GIL) and stores PNGs and results through ``storage``; no tensor
leaves this module.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from januscxr.errors import JanusCxrError, LateralViewError
from januscxr.io import read_image
from januscxr.models.base import Classifier, Reporter
from januscxr.pipeline import cached_classifier, load_reporter, read_image_value
from januscxr.server.imaging import display_png, heatmap_png
from januscxr.storage.database import Database
from januscxr.storage.reports import ensure_report
from januscxr.storage.studies import (
    get_image,
    pending_images,
    record_ai_failure,
    record_ai_result,
    set_display,
)
from januscxr.types import Image, ViewPosition

logger = logging.getLogger(__name__)


class InferencePool:
    """Queue of image ids to read; ``submit`` returns at once."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        classifier: Classifier | str | None = None,
        reporter: Reporter | str | None = None,
        workers: int = 1,
    ) -> None:
        self.db = db
        self.data_dir = data_dir
        self._classifier = classifier
        self._reporter = reporter
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="januscxr-infer")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, image_id: int) -> Future[None]:
        future = self._executor.submit(self._read_safely, image_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def requeue_pending(self) -> int:
        """Queue images left unread by a previous run; returns how many."""
        with self.db.read() as session:
            ids = [image.id for image in pending_images(session)]
        for image_id in ids:
            self.submit(image_id)
        return len(ids)

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Block until every queued image is done (tests and the CLI use this)."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            future.result(timeout=timeout_s)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _read_safely(self, image_id: int) -> None:
        try:
            self._read(image_id)
        except JanusCxrError as error:
            logger.warning("image %d not read: %s", image_id, type(error).__name__)
            with self.db.write() as session:
                record_ai_failure(session, get_image(session, image_id), f"{type(error).__name__}: {error}")
        except Exception:
            logger.exception("image %d: unexpected failure in the worker", image_id)
            with self.db.write() as session:
                record_ai_failure(session, get_image(session, image_id), "internal error while reading the image")

    def _read(self, image_id: int) -> None:
        with self.db.read() as session:
            stored = get_image(session, image_id)
            path, study_id = self.data_dir / stored.file_path, stored.study_id
        image = read_image(path, require_frontal=False)
        self._store_display(image_id, image)
        if image.view_position is ViewPosition.LATERAL:
            raise LateralViewError(
                f"image {image_id} is a lateral view; shown, but the classifier reads frontal views only"
            )
        result = read_image_value(image, classifier=self._model(), reporter=self._reporter_backend())
        size = self._display_size(image_id)
        overlays = {r.finding: heatmap_png(r.heatmap, size) for r in result.flagged if r.heatmap is not None}
        with self.db.write() as session:
            stored = get_image(session, image_id)
            ai_result = record_ai_result(session, stored, result.prediction, result.report, overlays)
            ensure_report(session, stored.study, ai_result)
        logger.info("study %d image %d read by %s", study_id, image_id, result.prediction.model_id)

    def _store_display(self, image_id: int, image: Image) -> None:
        png, (width, height) = display_png(image.pixels)
        relative = Path("display") / f"{image_id}.png"
        (self.data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir / relative).write_bytes(png)
        with self.db.write() as session:
            set_display(session, get_image(session, image_id), display_path=str(relative), rows=height, columns=width)

    def _display_size(self, image_id: int) -> tuple[int, int]:
        with self.db.read() as session:
            stored = get_image(session, image_id)
            return int(stored.columns or 1), int(stored.rows or 1)

    def _model(self) -> Classifier:
        if self._classifier is None or isinstance(self._classifier, str):
            with self._lock:  # load once, in the worker, never at startup
                self._classifier = cached_classifier(self._classifier) if self._classifier else cached_classifier()
        return self._classifier

    def _reporter_backend(self) -> Reporter:
        if self._reporter is None or isinstance(self._reporter, str):
            self._reporter = load_reporter(self._reporter) if self._reporter else load_reporter()
        return self._reporter
