"""The background worker pool: decode, classify and draft each new image, off the request path.

Uploads and page loads only queue work here; a study shows on the worklist as pending until
its result is stored. Decoding runs in a spawned child process (:class:`ImageDecoder`) with a
time limit, so that one pathological file is abandoned instead of holding a worker; the model
runs in worker threads (torch and NumPy release the GIL). PNGs and results are stored through
``storage``; no tensor leaves this module.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from januscxr.errors import ImageTooLargeError, JanusCxrError, LateralViewError
from januscxr.io import read_header, read_image
from januscxr.io.limits import DEFAULT_MAX_PIXELS
from januscxr.models.base import Classifier, Reporter
from januscxr.models.registry import DEFAULT_CLASSIFIER
from januscxr.pipeline import DEFAULT_REPORTER, cached_classifier, load_reporter, read_image_value
from januscxr.server.datafolder import DISPLAY, write_private
from januscxr.server.failures import ReadTimeoutError, ai_status_for, describe_failure
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

DEFAULT_READ_TIMEOUT_S = 60.0
CHILD_START_TIMEOUT_S = 120.0


class ImageDecoder:
    """Reads images in a reusable spawned child process, abandoning any read over ``timeout_s``.

    On a timeout the child is killed and the next read starts a fresh one. ``decode`` is called
    in the child as ``decode(path, require_frontal=False)``; it must be a module-level function
    (it is pickled by name). Images over ``max_pixels`` (from the header) are refused unread.
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        decode: Callable[..., Image] = read_image,
    ) -> None:
        self.timeout_s, self.max_pixels, self._decode = timeout_s, max_pixels, decode
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def read(self, path: Path) -> Image:
        header = read_header(path)
        if header.rows and header.columns and header.rows * header.columns > self.max_pixels:
            raise ImageTooLargeError(
                f"{path}: image is {header.columns}x{header.rows} px; expected at most {self.max_pixels:,} pixels"
            )
        with self._lock:
            if self._pool is None:
                self._pool = self._start()
            pending = self._pool.apply_async(self._decode, (str(path),), {"require_frontal": False})
            try:
                image: Image = pending.get(timeout=self.timeout_s)
            except multiprocessing.TimeoutError:
                self._kill()
                raise ReadTimeoutError(
                    f"{path.name}: reading took longer than {self.timeout_s:g} s", timeout_s=self.timeout_s
                ) from None
        return image

    def _start(self) -> Pool:
        pool = multiprocessing.get_context("spawn").Pool(processes=1)
        # The time limit is for reading, not for starting the child: wait until it has started and
        # imported the decoder's module (unpickling the function as an argument imports it there).
        pool.apply_async(callable, (self._decode,)).get(timeout=CHILD_START_TIMEOUT_S)
        return pool

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        if self._pool is not None:
            self._pool.terminate()  # SIGTERM: stops a child stuck in C code too
            self._pool.join()
            self._pool = None


class InferencePool:
    """Queue of image ids to read; ``submit`` returns at once."""

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
    ) -> None:
        self.db = db
        self.data_dir = data_dir
        self._classifier = classifier
        self._reporter = reporter
        self._gate = gate  # a registered name; None: the pipeline's default gate
        self._reporter_options = dict(reporter_options or {})  # models_dir, device, precision, max_new_tokens
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="januscxr-infer")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # loading a model can take minutes: never under self._lock
        self._decoders: queue.SimpleQueue[ImageDecoder] = queue.SimpleQueue()
        self._all_decoders = [
            ImageDecoder(timeout_s=read_timeout_s, max_pixels=max_image_pixels, decode=decode) for _ in range(workers)
        ]
        for decoder in self._all_decoders:
            self._decoders.put(decoder)

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
        for decoder in self._all_decoders:
            decoder.close()

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _read_safely(self, image_id: int) -> None:
        with self.db.read() as session:
            path = self.data_dir / get_image(session, image_id).file_path
        try:
            self._read(image_id, path)
        except JanusCxrError as error:
            logger.warning("image %d not read: %s", image_id, type(error).__name__)
            self._fail(image_id, error)
        except Exception as error:
            logger.exception("image %d: unexpected failure in the worker", image_id)
            self._fail(image_id, error)

    def _fail(self, image_id: int, error: Exception) -> None:
        """Record why, in the reader's words (:func:`describe_failure`), and whether refused or failed."""
        with self.db.write() as session:
            image = get_image(session, image_id)
            record_ai_failure(session, image, describe_failure(error), status=ai_status_for(error))

    def _read(self, image_id: int, path: Path) -> None:
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
            stored = get_image(session, image_id)
            ai_result = record_ai_result(
                session, stored, result.prediction, result.report, overlays, discordances=result.discordances
            )
            ensure_report(session, stored.study, ai_result)
        logger.info("study %d image %d read by %s", stored.study_id, image_id, result.prediction.model_id)

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
