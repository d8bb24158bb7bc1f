"""Plain JSON records of read results, following ``schemas/read-output.schema.json``."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from januscxr.errors import JanusCxrError
from januscxr.types import Discordance, FindingResult, ReadResult

SCHEMA_VERSION = "1.0"


def read_output_schema() -> dict[str, Any]:
    """The JSON Schema of ``januscxr read --json`` output."""
    text = (files("januscxr") / "schemas" / "read-output.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def finding_record(result: FindingResult) -> dict[str, Any]:
    return {
        "finding": result.finding.value,
        "probability": round(result.probability, 6),
        "threshold": round(result.threshold, 6),
        "flagged": result.flagged,
        "uncertain": result.uncertain,
        "critical": result.critical,
        "laterality": result.laterality.value if result.laterality else None,
    }


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
        "findings": [finding_record(r) for r in result.prediction.ordered()],
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
