"""Plain JSON records of read results, following ``schemas/read-output.schema.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from importlib.resources import files
from typing import Any

from januscxr.errors import JanusCxrError
from januscxr.labels import Finding
from januscxr.types import Discordance, FindingResult, ReadResult

SCHEMA_VERSION = "1.0"


def read_output_schema() -> dict[str, Any]:
    """The JSON Schema of ``januscxr read --json`` output."""
    text = (files("januscxr") / "schemas" / "read-output.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def finding_record(result: FindingResult, model_id: str | None = None) -> dict[str, Any]:
    """One finding as JSON; ``experts`` names the classifiers that answered it (``model_id`` when one did)."""
    # a combination's results (januscxr.models.experts.ExpertFindingResult) carry their experts
    experts = list(getattr(result, "experts", ()) or ([model_id] if model_id else []))
    return {
        "finding": result.finding.value,
        "probability": round(result.probability, 6),
        "threshold": round(result.threshold, 6),
        "urgent_threshold": None if result.urgent_threshold is None else round(result.urgent_threshold, 6),
        "flagged": result.flagged,
        "urgent": result.urgent,
        "uncertain": result.uncertain,
        "critical": result.critical,
        "laterality": result.laterality.value if result.laterality else None,
    } | ({"experts": experts} if experts else {})


def finding_results(records: Iterable[Mapping[str, Any]]) -> dict[Finding, FindingResult]:
    """Stored ``records.finding_record`` rows back as the classifier's results (scores and thresholds)."""
    results = {}
    for record in records:
        finding = Finding(record["finding"])
        probability, threshold = float(record["probability"]), float(record["threshold"])
        if bool(record["flagged"]) != (probability >= threshold):  # rounded at the boundary: the stored flag wins
            threshold = probability if record["flagged"] else math.nextafter(probability, math.inf)
        urgent = record.get("urgent_threshold")
        results[finding] = FindingResult(finding, probability, threshold, urgent_threshold=urgent)
    return results


def probability_texts(probability: float, *thresholds: float | None, significant: int = 3) -> tuple[str, ...]:
    """``probability`` then each threshold as text, with the digits to read ``probability >= threshold`` off.

    All numbers share one number of decimals (so rounding keeps their order): enough for
    ``significant`` significant digits of every threshold, and of the probability up to one
    decimal past them. Where the probability and a threshold differ but print the same, more
    decimals until they do not. None prints as "-".

    Examples
    --------
    >>> probability_texts(0.0499, 0.05)
    ('0.0499', '0.0500')
    >>> probability_texts(0.050004, 0.05, None)
    ('0.050004', '0.050000', '-')
    """
    known = [t for t in thresholds if t is not None]
    limit = max((_decimals(t, significant) for t in known), default=16) + 1
    decimals = max([min(_decimals(probability, significant), limit)] + [_decimals(t, significant) for t in known])

    def ties(d: int) -> bool:
        return any(t != probability and f"{t:.{d}f}" == f"{probability:.{d}f}" for t in known)

    while ties(decimals) and decimals < 17:
        decimals += 1
    return tuple(f"{x:.{decimals}f}" if x is not None else "-" for x in (probability, *thresholds))


def _decimals(value: float, significant: int) -> int:
    """Decimals that show ``significant`` significant digits of ``value`` (at least one)."""
    if value == 0 or not math.isfinite(value):
        return significant - 1
    return max(1, significant - 1 - math.floor(math.log10(abs(value))))


def discordance_record(discordance: Discordance) -> dict[str, Any]:
    return {
        "finding": discordance.finding.value,
        "kind": discordance.kind.value,
        "probability": round(discordance.probability, 6),
        "threshold": round(discordance.threshold, 6),
        "critical": discordance.critical,
        "sentence": discordance.sentence,
    }


def result_record(result: ReadResult, heatmap_files: dict[str, str] | None = None) -> dict[str, Any]:
    image = result.image
    return {
        "source": image.source,
        "image": {
            "study_instance_uid": image.study_instance_uid,
            "series_instance_uid": image.series_instance_uid,
            "sop_instance_uid": image.sop_instance_uid,
            "modality": image.modality,
            "body_part_examined": image.body_part_examined,
            "view_position": image.view_position.value,
            "rows": image.shape[0],
            "columns": image.shape[1],
            "pixel_spacing_mm": list(image.pixel_spacing_mm) if image.pixel_spacing_mm else None,
            "patient_age_years": image.patient_age_years,
            "patient_sex": image.patient_sex.value or None,
        },
        "model": {"id": result.prediction.model_id, "version": result.prediction.model_version},
        "findings": [finding_record(r, result.prediction.model_id) for r in result.prediction.ordered()],
        "report": {
            "findings": result.report.findings,
            "impression": result.report.impression,
            "reporter": result.report.reporter,
        },
        "discordances": [discordance_record(d) for d in result.discordances],
        "heatmaps": heatmap_files or {},
        "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()},
    }


def error_record(source: str, error: JanusCxrError) -> dict[str, Any]:
    return {"source": source, "error": type(error).__name__, "message": str(error)}


def output_record(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "results": results, "errors": errors}
