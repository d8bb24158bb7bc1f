"""The readable block ``januscxr read`` prints for one result, and its heatmap files."""

from __future__ import annotations

from pathlib import Path

from januscxr.io.overlay import write_heatmap_overlay
from januscxr.pipeline import DEFAULT_REPORTER
from januscxr.records import probability_texts
from januscxr.types import DiscordanceKind, ReadResult

_DISCORDANCE_WORDS = {
    DiscordanceKind.REPORT_DENIES: "report denies",
    DiscordanceKind.REPORT_OMITS: "report omits",
    DiscordanceKind.REPORT_ASSERTS: "report asserts",
}


def render_summary(result: ReadResult, heatmap_files: dict[str, str]) -> str:
    """A readable block: flagged findings (critical first), the rest, then the report."""
    image = result.image
    kind = " ".join(
        x for x in (image.modality, image.view_position.value if image.view_position.is_frontal else None) if x
    )
    lines = [f"== {image.source}  [{kind or 'image'} {image.shape[1]}x{image.shape[0]}]"]
    lines.append(f"   model {result.prediction.model_id} {result.prediction.model_version}")
    for finding in result.prediction.ordered():
        mark = "!" if finding.critical else ("*" if finding.flagged else " ")
        status = ("POSSIBLE" if finding.uncertain else "FLAGGED") if finding.flagged else "-"
        status += " URGENT" if finding.urgent else ""
        side = f" {finding.laterality.value}" if finding.laterality else ""
        p, threshold, urgent = probability_texts(finding.probability, finding.threshold, finding.urgent_threshold)
        urgent = "never urgent" if finding.urgent_threshold is None else f"urgent {urgent}"
        lines.append(f" {mark} {finding.finding.value:<28} p={p} (threshold {threshold}, {urgent})  {status}{side}")
    if result.report.reporter != DEFAULT_REPORTER:
        lines.append(f"   draft by {result.report.reporter}, for a radiologist to review")
    lines += ["", "FINDINGS:", f"  {result.report.findings}", "IMPRESSION:"]
    lines += [f"  {line}" for line in result.report.impression.splitlines()]
    for item in result.discordances:
        quote = f': "{item.sentence}"' if item.sentence else ""
        p, threshold = probability_texts(item.probability, item.threshold)
        lines.append(
            f" {'!' if item.critical else '?'} {_DISCORDANCE_WORDS[item.kind]} {item.finding.value} "
            f"(classifier p={p}, threshold {threshold}){quote}"
        )
    lines += [f"  heatmap {name}: {path}" for name, path in heatmap_files.items()]
    lines.append(f"   ({result.timings_ms['total_ms']:.0f} ms; decision support, not a diagnosis)\n")
    return "\n".join(lines)


def write_heatmaps(result: ReadResult, folder: Path) -> dict[str, str]:
    stem = Path(result.image.source).stem
    written: dict[str, str] = {}
    for finding in result.flagged:
        if finding.heatmap is not None:
            name = finding.finding.value.lower().replace(" ", "_")
            path = write_heatmap_overlay(result.image.pixels, finding.heatmap, folder / f"{stem}_{name}.png")
            written[finding.finding.value] = str(path)
    return written
