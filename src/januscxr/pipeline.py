"""io -> preprocess -> classify -> draft: one read of one chest radiograph.

Every model arrives as an argument; ``None`` means the bundled default, loaded once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from januscxr.errors import JanusCxrError, UnknownModelError
from januscxr.io import read_image
from januscxr.models.base import Classifier, Reporter
from januscxr.models.registry import DEFAULT_CLASSIFIER, load_classifier
from januscxr.report import FindingsComposer
from januscxr.report.compose import REPORTER_NAME
from januscxr.types import Image, ReadResult

DEFAULT_REPORTER = REPORTER_NAME


@cache
def cached_classifier(name: str = DEFAULT_CLASSIFIER) -> Classifier:
    """A registered classifier, loaded and verified once per process."""
    return load_classifier(name)


def load_reporter(name: str = DEFAULT_REPORTER) -> Reporter:
    """A reporter by name. The bundled composer needs no weights."""
    if name == REPORTER_NAME:
        return FindingsComposer()
    raise UnknownModelError(f"no reporter named {name!r}; registered: {REPORTER_NAME}")


def read(
    path: str | Path,
    *,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    heatmaps: bool = True,
    require_frontal: bool = True,
) -> ReadResult:
    """Read one chest radiograph: calibrated findings, heatmaps and a draft report.

    Parameters
    ----------
    path
        A DICOM, PNG or JPEG file.
    classifier, reporter
        Backends or registered names; the bundled ones by default.
    heatmaps
        Compute Grad-CAM heatmaps for flagged findings.
    require_frontal
        Refuse lateral views (DICOM View Position).

    Examples
    --------
    >>> result = januscxr.read("chest.dcm")  # doctest: +SKIP
    >>> result.findings["Pneumonia"].probability  # doctest: +SKIP
    """
    start = time.perf_counter()
    image = read_image(path, require_frontal=require_frontal)
    return read_image_value(image, classifier=classifier, reporter=reporter, heatmaps=heatmaps, started=start)


def read_image_value(
    image: Image,
    *,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    heatmaps: bool = True,
    started: float | None = None,
) -> ReadResult:
    """The same as :func:`read` for an :class:`Image` already in memory."""
    start = started if started is not None else time.perf_counter()
    loaded = time.perf_counter()
    model = _classifier(classifier)
    (prediction,) = model.predict([image], heatmaps=heatmaps)
    classified = time.perf_counter()
    report = _reporter(reporter).draft(image, prediction.findings)
    done = time.perf_counter()
    timings = {
        "read_ms": (loaded - start) * 1e3,
        "classify_ms": (classified - loaded) * 1e3,
        "report_ms": (done - classified) * 1e3,
        "total_ms": (done - start) * 1e3,
    }
    return ReadResult(image=image, prediction=prediction, report=report, timings_ms=timings)


def read_many(paths: Iterable[str | Path], **options: object) -> Iterator[tuple[Path, ReadResult | JanusCxrError]]:
    """Read each file; a file that fails yields its error and the rest go on."""
    for path in paths:
        try:
            yield Path(path), read(path, **options)  # type: ignore[arg-type]
        except JanusCxrError as error:
            yield Path(path), error


def _classifier(value: Classifier | str | None) -> Classifier:
    if value is None or isinstance(value, str):
        return cached_classifier(value or DEFAULT_CLASSIFIER)
    return value


def _reporter(value: Reporter | str | None) -> Reporter:
    if value is None or isinstance(value, str):
        return load_reporter(value or DEFAULT_REPORTER)
    return value
