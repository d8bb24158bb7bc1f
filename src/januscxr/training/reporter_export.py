"""What a reporter run leaves behind: the PEFT adapter, a merged checkpoint, its registration, a model card.

The merged checkpoint is a folder in januscxr's Janus layout (``config.json``, ``model.safetensors``,
the tokenizer, ``preprocessor_config.json``, ``januscxr.json``), so
:func:`januscxr.models.janus.load_janus` loads it like a converted published checkpoint. It is
written to ``<models dir>/<name>/`` with ``januscxr-weights.json`` (the sha256 of every file, as
``januscxr models pull`` records them) and ``januscxr-reporter.json``, which describes the reporter
for the registry: its id, what it was fine-tuned from and on how much data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from januscxr.models.base import ReporterSpec
from januscxr.models.hub import write_manifest
from januscxr.models.janus import layout_info
from januscxr.models.janus_conversion import LAYOUT_FILE, LAYOUT_FORMAT, TOKENIZER_FILES
from januscxr.models.registry import LOCAL_HUB, REPORTER_FILE

CARD_FILE = "MODEL_CARD.md"


def reporter_spec(name: str, *, based_on: str, description: str) -> ReporterSpec:
    """The registry entry of a reporter fine-tuned here (its weights are local, not on a hub)."""
    return ReporterSpec(
        model_id=name,
        hub_repo=LOCAL_HUB,
        revision=None,
        layout="hf",
        description=description,
        licence="as the base checkpoint's (DeepSeek model licence) and the training reports' data use agreement",
        parameters="1B" if "1b" in based_on.lower() or "cxr" in based_on.lower() else "see card",
        based_on=based_on,
    )


def write_merged(model: Any, base: Path, destination: Path) -> int:
    """Merge the LoRA weights into the base and write the Janus layout; returns the tensor count.

    Only the tensors the base checkpoint stored are written, each in the base's stored dtype.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    merged = model.merge_and_unload()
    state = merged.state_dict()
    with safe_open(str(base / "model.safetensors"), framework="pt") as handle:
        dtypes = {name: handle.get_slice(name).get_dtype() for name in handle.keys()}  # noqa: SIM118
    tensors = {name: state[name].detach().to("cpu", _torch_dtype(dtypes[name])).contiguous() for name in dtypes}
    destination.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(destination / "model.safetensors"), metadata={"format": "pt"})
    for name in ("config.json", "preprocessor_config.json", *TOKENIZER_FILES):
        if (base / name).is_file():
            shutil.copyfile(base / name, destination / name)
    return len(tensors)


def _torch_dtype(name: str) -> torch.dtype:
    return {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}.get(name, torch.float32)


def register_merged(destination: Path, spec: ReporterSpec, layout: dict[str, Any], card: str) -> None:
    """Write ``januscxr.json``, the card, the reporter description and the sha256 manifest."""
    (destination / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n", encoding="utf-8")
    (destination / CARD_FILE).write_text(card, encoding="utf-8")
    entry = {
        "model_id": spec.model_id,
        "layout": spec.layout,
        "description": spec.description,
        "based_on": spec.based_on,
        "licence": spec.licence,
        "parameters": spec.parameters,
        "model_card": CARD_FILE,
    }
    (destination / REPORTER_FILE).write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    write_manifest(destination, spec, None)


def merged_layout(base: Path, summary: dict[str, Any], tensors: int) -> dict[str, Any]:
    """``januscxr.json`` of the merged folder: the base's layout facts and how it was fine-tuned."""
    from importlib.metadata import version

    base_layout = layout_info(base)
    return {
        "format": LAYOUT_FORMAT,
        "source": str(base),
        "source_layout": "januscxr LoRA merge",
        "generation_modules": base_layout.get("generation_modules", True),
        "num_image_tokens": base_layout.get("num_image_tokens"),
        "tensors": tensors,
        "converted_by": f"januscxr {version('januscxr')} train reporter",
        "fine_tuning": {k: summary[k] for k in ("based_on", "lora", "data", "best_epoch", "best_valid_loss")},
    }


def reporter_card(summary: dict[str, Any]) -> str:
    """A model card written from a run's measured numbers (``summary`` from the run)."""
    data, lora = summary["data"], summary["lora"]
    lines = [
        f"# Model card: {summary['name']}",
        "",
        "| | |",
        "|---|---|",
        f"| model id | `{summary['name']}` (vision-language reporter, LoRA fine-tune merged into its base) |",
        f"| based on | `{summary['based_on']}` ({summary['base_path']}) |",
        "| use | decision support, not a diagnosis: a draft for a radiologist to review, edit and sign |",
        f"| training data | {data['train_images']} images of {data['train_patients']} patients "
        f"(validation: {data['valid_images']} images of {data['valid_patients']} patients) from `{data['manifest']}` |",
        f"| rows skipped | {data['skipped_rows']} in the manifest (missing image or empty report), "
        f"{data['unreadable_images']} unreadable images |",
        f"| LoRA | rank {lora['rank']}, alpha {lora['alpha']}, dropout {lora['dropout']}, on {lora['targets']} |",
        f"| optimisation | {summary['optimisation']} |",
        f"| best epoch | {summary['best_epoch']} (validation loss {summary['best_valid_loss']:.4f} per answer token) |",
        f"| trained on | {summary['machine']}, {summary['train_seconds']:.0f} s, {summary['train_tokens']} tokens |",
        f"| command | `{summary['command']}` |",
        "",
        "## Loss per epoch (mean cross-entropy per answer token)",
        "",
        "| epoch | optimizer steps | train loss | validation loss |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {int(h['epoch'])} | {int(h['step'])} | {h['train_loss']:.4f} | {h['valid_loss']:.4f} |"
        for h in summary["history"]
    ]
    lines += [
        "",
        "## Before use",
        "",
        "A lower validation loss is not a better report. Score this reporter and the published one on the",
        f"same held-out manifest (`januscxr eval generate --reporter {summary['name']} --manifest test.csv`, and",
        "again with `--reporter janus-pro-cxr-final`) and read a sample of drafts side by side before anyone",
        "uses it. Known failure modes of the base model remain: fluent text that can be wrong, findings",
        "copied from the expert hint, and reports in the style of the training hospital only.",
        "",
    ]
    return "\n".join(lines)
