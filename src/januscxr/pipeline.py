"""io -> gate -> preprocess -> classify -> draft: one read of one chest radiograph.

Every model arrives as an argument; ``None`` means the bundled default, loaded once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from januscxr.consistency import find_discordances
from januscxr.errors import JanusCxrError, NotChestRadiographError
from januscxr.io import read_image
from januscxr.models.base import Classifier, Gate, Reporter
from januscxr.models.experts import load_experts
from januscxr.models.registry import DEFAULT_CLASSIFIER, DEFAULT_GATE, find_reporter_spec, load_gate
from januscxr.report import FindingsComposer
from januscxr.report.compose import REPORTER_NAME
from januscxr.types import Image, Prediction, ReadResult

DEFAULT_REPORTER = REPORTER_NAME


@cache
def cached_classifier(name: str = DEFAULT_CLASSIFIER, models_dir: Path | None = None) -> Classifier:
    """A registered classifier, or experts combined (``"a,b"``), loaded and verified once per process.

    Local calibrations written by ``januscxr models calibrate`` apply (:mod:`januscxr.models.experts`);
    published experts load from ``models_dir`` (default ~/.cache/januscxr/models).
    """
    return load_experts(name, models_dir=models_dir)


@cache
def cached_gate(name: str = DEFAULT_GATE) -> Gate:
    """A registered chest-radiograph gate, loaded and verified once per process."""
    return load_gate(name)


def check_chest_radiograph(image: Image, gate: Gate | str | None = None) -> None:
    """Raise :class:`NotChestRadiographError` unless the gate accepts ``image`` as a frontal chest radiograph.

    The gate looks at the pixels only: PNG and JPEG carry no header, and DICOM headers lie.
    """
    (decision,) = _gate(gate).check([image])
    if not decision.accepted:
        raise NotChestRadiographError(
            f"{image.source}: not a frontal chest radiograph: {decision.reason}; "
            "expected a frontal (PA or AP) chest radiograph"
        )


@cache
def cached_reporter(name: str = DEFAULT_REPORTER) -> Reporter:
    """A reporter by name with default options, loaded once per process."""
    return load_reporter(name)


def load_reporter(
    name: str = DEFAULT_REPORTER,
    *,
    models_dir: Path | None = None,
    device: str | None = None,
    precision: str = "auto",
    **options: Any,
) -> Reporter:
    """A reporter by name: the bundled composer, a published Janus model, or one trained into ``models_dir``.

    Janus weights load from ``<models_dir>/<name>`` (see :mod:`januscxr.models.hub`); a reporter
    trained by ``januscxr train reporter`` is found there by its ``januscxr-reporter.json``
    (:func:`~januscxr.models.registry.find_reporter_spec`). ``options`` go to
    :class:`~januscxr.report.vlm.VlmReporter` (``max_new_tokens``, ``on_text``, ...).
    Missing weights raise a :class:`~januscxr.errors.WeightsNotFoundError` that says how to get them.
    """
    if name == REPORTER_NAME:
        return FindingsComposer()
    spec = find_reporter_spec(name, models_dir)
    from januscxr.models.hub import require_weights
    from januscxr.models.janus import load_janus
    from januscxr.report.vlm import VlmReporter

    folder = require_weights(spec, models_dir)
    backend = load_janus(folder, device=device, precision=precision, name=name)
    return VlmReporter(backend, name=name, **options)


def read(
    path: str | Path,
    *,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    heatmaps: bool = True,
    require_frontal: bool = True,
    check_consistency: bool = True,
    gate: Gate | str | None = None,
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
    check_consistency
        Compare the draft with the classifier's flags (``ReadResult.discordances``).
    gate
        The chest-radiograph gate or its registered name (the bundled one by default); an image
        it refuses raises :class:`~januscxr.errors.NotChestRadiographError` before any scoring.

    Examples
    --------
    >>> result = januscxr.read("chest.dcm")  # doctest: +SKIP
    >>> result.findings["Pneumonia"].probability  # doctest: +SKIP
    """
    start = time.perf_counter()
    image = read_image(path, require_frontal=require_frontal)
    return read_image_value(
        image,
        classifier=classifier,
        reporter=reporter,
        heatmaps=heatmaps,
        started=start,
        check_consistency=check_consistency,
        gate=gate,
    )


def read_image_value(
    image: Image,
    *,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    heatmaps: bool = True,
    started: float | None = None,
    check_consistency: bool = True,
    gate: Gate | str | None = None,
) -> ReadResult:
    """The same as :func:`read` for an :class:`Image` already in memory.

    ``check_consistency`` labels the draft and records where it disagrees with the classifier
    (:func:`januscxr.consistency.find_discordances`) in ``ReadResult.discordances``.
    ``gate`` refuses anything but a frontal chest radiograph first (:func:`check_chest_radiograph`).
    """
    start = started if started is not None else time.perf_counter()
    loaded = time.perf_counter()
    check_chest_radiograph(image, gate)
    model = _classifier(classifier)
    (prediction,) = model.predict([image], heatmaps=heatmaps)
    classified = time.perf_counter()
    report = _reporter(reporter).draft(image, prediction.findings)
    discordances = find_discordances(report, prediction.findings) if check_consistency else ()
    done = time.perf_counter()
    timings = {
        "read_ms": (loaded - start) * 1e3,
        "classify_ms": (classified - loaded) * 1e3,
        "report_ms": (done - classified) * 1e3,
        "total_ms": (done - start) * 1e3,
    }
    return ReadResult(image=image, prediction=prediction, report=report, timings_ms=timings, discordances=discordances)


def read_many(paths: Iterable[str | Path], **options: object) -> Iterator[tuple[Path, ReadResult | JanusCxrError]]:
    """Read each file; a file that fails yields its error and the rest go on."""
    for path in paths:
        try:
            yield Path(path), read(path, **options)  # type: ignore[arg-type]
        except JanusCxrError as error:
            yield Path(path), error


def read_batches(
    paths: Iterable[str | Path],
    *,
    batch_size: int = 4,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    heatmaps: bool = True,
    require_frontal: bool = True,
    check_consistency: bool = True,
    gate: Gate | str | None = None,
) -> Iterator[tuple[Path, ReadResult | JanusCxrError]]:
    """:func:`read_many`, drafting ``batch_size`` studies at once when ``reporter`` has ``draft_many``.

    A vision-language reporter decodes a batch in about the time of one study on a GPU; the
    drafts are the same as one by one. ``report_ms`` is the batch's drafting time shared evenly.
    """
    options = {
        "heatmaps": heatmaps,
        "require_frontal": require_frontal,
        "check_consistency": check_consistency,
        "gate": gate,
    }
    draft_many = getattr(reporter, "draft_many", None)
    if draft_many is None or batch_size <= 1:
        yield from read_many(paths, classifier=classifier, reporter=reporter, **options)
        return
    pending = list(paths)
    try:
        model = _classifier(classifier)
    except JanusCxrError as error:
        for path in pending:
            yield Path(path), error
        return
    for first in range(0, len(pending), batch_size):
        ready: list[tuple[Path, Image, Prediction, dict[str, float]]] = []
        for path in pending[first : first + batch_size]:
            start = time.perf_counter()
            try:
                image = read_image(path, require_frontal=require_frontal)
                check_chest_radiograph(image, gate)
            except JanusCxrError as error:
                yield Path(path), error
                continue
            loaded = time.perf_counter()
            (prediction,) = model.predict([image], heatmaps=heatmaps)
            timings = {"read_ms": (loaded - start) * 1e3, "classify_ms": (time.perf_counter() - loaded) * 1e3}
            ready.append((Path(path), image, prediction, timings))
        if not ready:
            continue
        drafting = time.perf_counter()
        try:
            reports = draft_many([r[1] for r in ready], [r[2].findings for r in ready])
        except JanusCxrError as error:
            for path, *_ in ready:
                yield path, error
            continue
        share_ms = (time.perf_counter() - drafting) * 1e3 / len(ready)
        for (path, image, prediction, timings), report in zip(ready, reports, strict=True):
            discordances = find_discordances(report, prediction.findings) if check_consistency else ()
            timings |= {"report_ms": share_ms, "total_ms": timings["read_ms"] + timings["classify_ms"] + share_ms}
            yield path, ReadResult(image, prediction, report, timings_ms=timings, discordances=discordances)


def _classifier(value: Classifier | str | None) -> Classifier:
    if value is None or isinstance(value, str):
        return cached_classifier(value or DEFAULT_CLASSIFIER)
    return value


def _gate(value: Gate | str | None) -> Gate:
    if value is None or isinstance(value, str):
        return cached_gate(value or DEFAULT_GATE)
    return value


def _reporter(value: Reporter | str | None) -> Reporter:
    if value is None or isinstance(value, str):
        return cached_reporter(value or DEFAULT_REPORTER)
    return value
