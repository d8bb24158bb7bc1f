"""``januscxr train reporter`` end to end: check the base, read the data, train, export, register.

:func:`train_reporter` refuses a base checkpoint of the wrong architecture before it reads any
data, splits the manifest by patient, fine-tunes (:mod:`januscxr.training.reporter_trainer`) and,
once training has finished, saves the PEFT adapter to ``RUN/adapter/``, merges it into a copy of
the base in ``<models dir>/<name>/`` and writes the model card from the measured numbers.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from januscxr.errors import ManifestError, ModelError, WeightsNotFoundError
from januscxr.models.expert_store import models_root
from januscxr.models.hub import require_weights
from januscxr.models.janus import load_janus
from januscxr.models.janus_conversion import iter_layout_problems
from januscxr.models.registry import check_reporter_name, get_reporter_spec
from januscxr.training.report_text import Placeholders
from januscxr.training.reporter_export import (
    merged_layout,
    register_merged,
    reporter_card,
    reporter_spec,
    write_merged,
)
from januscxr.training.reporter_manifest import (
    ReportExample,
    TrainingManifest,
    read_training_manifest,
    split_by_patient,
)
from januscxr.training.reporter_trainer import ReporterTrainConfig, ReporterTrainer, target_pattern

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class ReporterRun:
    """Where a run's inputs come from and its outputs go."""

    base: str  # a folder in januscxr's Janus layout, or a registered reporter's name
    manifest: Path
    out_dir: Path
    name: str
    models_dir: Path | None = None
    valid_fraction: float = 0.1
    placeholders: str = Placeholders.DROP.value
    command: str = ""


def resolve_base(base: str, models_dir: Path | None = None) -> Path:
    """The base checkpoint's folder, refused unless it is a Janus checkpoint in januscxr's layout."""
    folder = Path(base)
    if not folder.is_dir():
        local = models_root(models_dir) / base
        folder = local if local.is_dir() else require_weights(get_reporter_spec(base), models_dir)
    problems = list(iter_layout_problems(folder))
    if problems:
        raise WeightsNotFoundError(f"{folder}: {', '.join(problems)}; expected a Janus checkpoint in januscxr's layout")
    model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type == "multi_modality":
        raise ModelError(
            f"{folder} is in DeepSeek's original layout; convert it first: januscxr models convert {folder} DST"
        )
    if model_type != "janus":
        raise ModelError(
            f"{folder / 'config.json'}: model_type {model_type!r}; expected 'janus' "
            "(Janus-Pro-1B, Janus-Pro-CXR or an earlier januscxr run), refusing to train"
        )
    return folder


def split_examples(
    manifest: TrainingManifest, valid_fraction: float, seed: int
) -> tuple[list[ReportExample], list[ReportExample]]:
    """Train and validation examples (test rows left out); a patient is never in both."""
    examples = split_by_patient([e for e in manifest.examples if e.split != "test"], valid_fraction, seed)
    train = [e for e in examples if e.split == "train"]
    valid = [e for e in examples if e.split == "valid"]
    train_lines = {e.patient_id: e.line for e in train}
    for example in valid:
        if example.patient_id in train_lines:
            raise ManifestError(
                f"{manifest.path}: line {example.line} (valid) has the patient of line {train_lines[example.patient_id]} "
                "(train); expected each patient in one split"
            )
    if not train or not valid:
        raise ManifestError(
            f"{manifest.path}: {len(train)} train and {len(valid)} validation rows; expected both "
            "(give split=valid rows or a --valid-fraction above 0)"
        )
    return train, valid


def train_reporter(run: ReporterRun, config: ReporterTrainConfig, *, resume: bool = False) -> dict[str, Any]:
    """Fine-tune, then export and register; returns the run's summary (also in ``RUN/summary.json``).

    When ``config.stop_after_steps`` stops the run first, the summary says ``finished: false`` and
    nothing is exported: continue with ``resume=True``.
    """
    name = check_reporter_name(run.name)
    base = resolve_base(run.base, run.models_dir)
    manifest = read_training_manifest(run.manifest, placeholders=run.placeholders)
    train, valid = split_examples(manifest, run.valid_fraction, config.seed)
    backend = load_janus(base, device=config.device, precision="auto", name=name)
    trainer = ReporterTrainer(backend, train, valid, config, run.out_dir)
    trained = trainer.train(resume=resume)
    state = trained.state
    summary: dict[str, Any] = {
        "name": name,
        "finished": trained.finished,
        "based_on": run.base if not Path(run.base).is_dir() else Path(run.base).name,
        "base_path": str(base),
        "data": {
            "manifest": str(run.manifest),
            "train_images": len(train),
            "train_patients": len({e.patient_id for e in train}),
            "valid_images": len(valid),
            "valid_patients": len({e.patient_id for e in valid}),
            "skipped_rows": len(manifest.skipped),
            "unreadable_images": len(state.unreadable_rows),
        },
        "lora": {
            "rank": config.rank,
            "alpha": config.alpha,
            "dropout": config.dropout,
            "targets": target_pattern(config),
        },
        "optimisation": (
            f"AdamW lr {config.learning_rate:g}, weight decay {config.weight_decay:g}, {config.schedule} after "
            f"{config.warmup_fraction:.0%} warm-up, batch {config.batch_size} x {config.grad_accumulation} accumulation, "
            f"{config.epochs} epochs max, patience {config.patience}, {config.share_without_hint:.0%} without the hint, "
            f"{backend.precision.value} on {backend.device.type}, seed {config.seed}"
        ),
        "best_epoch": state.best_epoch,
        "best_valid_loss": state.best_valid_loss,
        "history": state.history,
        "global_step": state.global_step,
        "train_seconds": state.train_seconds,
        "train_tokens": state.train_tokens,
        "machine": _machine(backend.device),
        "command": run.command,
        "config": asdict(config),
    }
    if trained.finished:
        summary |= _export(trained.model, base, run, summary)
    (run.out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _export(model: Any, base: Path, run: ReporterRun, summary: dict[str, Any]) -> dict[str, Any]:
    adapter = run.out_dir / "adapter"
    model.save_pretrained(adapter)
    destination = models_root(run.models_dir) / summary["name"]
    tensors = write_merged(model, base, destination)
    spec = reporter_spec(
        summary["name"],
        based_on=summary["based_on"],
        description=f"{summary['based_on']} fine-tuned with LoRA on {summary['data']['train_images']} images "
        f"of {Path(run.manifest).name}",
    )
    card = reporter_card(summary)
    register_merged(destination, spec, merged_layout(base, summary, tensors), card)
    (run.out_dir / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return {"adapter": str(adapter), "merged": str(destination)}


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}"
