"""Vision-language weights on disk: where they live, pulling them from the hub, verifying them.

A registered reporter's folder is ``<models dir>/<model id>/``: the Hugging Face-layout checkpoint
the backend loads, its DeepSeek original under ``source/`` when it was converted here, and
``januscxr-weights.json``, which records the hub repository, the commit pulled and the sha256 of
every file. Nothing is fetched implicitly: only :func:`pull_weights` talks to the hub, and
everything after it runs offline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from januscxr.errors import ChecksumMismatchError, HubUnreachableError, WeightsNotFoundError
from januscxr.models.base import ReporterSpec
from januscxr.models.expert_store import models_root
from januscxr.models.janus_conversion import convert_checkpoint, iter_layout_problems
from januscxr.models.registry import LOCAL_HUB
from januscxr.models.weights_file import file_sha256

logger = logging.getLogger(__name__)

MANIFEST = "januscxr-weights.json"
SOURCE = "source"


def model_folder(spec: ReporterSpec, models_dir: Path | None = None) -> Path:
    """``<models dir>/<model id>``; the models dir defaults as in :func:`~januscxr.models.expert_store.models_root`."""
    return models_root(models_dir) / spec.model_id


def manual_steps(spec: ReporterSpec, folder: Path) -> str:
    """How to put the weights in place by hand, where no hub can be reached."""
    return (
        f"copy the files of https://huggingface.co/{spec.hub_repo} into {folder / SOURCE}, then run "
        f"`januscxr models convert {folder / SOURCE} {folder}`"
    )


def require_weights(spec: ReporterSpec, models_dir: Path | None = None) -> Path:
    """The model's folder, or a :class:`WeightsNotFoundError` saying what is missing and how to get it."""
    folder = model_folder(spec, models_dir)
    problems = list(iter_layout_problems(folder))
    if problems:
        where = "folder does not exist" if not folder.exists() else ", ".join(problems)
        if spec.hub_repo == LOCAL_HUB:
            raise WeightsNotFoundError(_trained_here_missing(spec, folder, where))
        raise WeightsNotFoundError(
            f"{spec.model_id}: no weights in {folder} ({where}). Get them with "
            f"`januscxr models pull {spec.model_id}` (downloads {spec.hub_repo} from the Hugging Face hub), "
            f"or, without hub access, {manual_steps(spec, folder)}"
        )
    return folder


def _trained_here_missing(spec: ReporterSpec, folder: Path, where: str) -> str:
    """A reporter trained here has no hub to pull from: its folder must come back from a copy or a new run."""
    base = spec.based_on or "<base reporter>"
    return (
        f"{spec.model_id}: the trained reporter's folder {folder} is missing or incomplete ({where}); "
        "it was fine-tuned here, so no hub has it: restore the folder from a backup, or retrain it with "
        f"`januscxr train reporter --name {spec.model_id} --base {base} --manifest <manifest> --out <run folder>` "
        "(MODEL_CARD.md, in that folder or the run folder, records the first run's command)"
    )


@dataclass(frozen=True)
class PulledWeights:
    folder: Path
    revision: str
    files: int


def pull_weights(spec: ReporterSpec, models_dir: Path | None = None, *, keep_generation: bool = True) -> PulledWeights:
    """Download the pinned revision (resuming partial files), convert it, record every sha256."""
    folder = model_folder(spec, models_dir)
    source = folder / SOURCE if spec.layout == "deepseek" else folder
    try:
        from huggingface_hub import HfApi, snapshot_download

        revision = HfApi().model_info(spec.hub_repo, revision=spec.revision).sha or spec.revision or "main"
        snapshot_download(spec.hub_repo, revision=revision, local_dir=source)
    except Exception as error:  # the hub client raises its own network and HTTP error types
        raise HubUnreachableError(
            f"{spec.model_id}: cannot download {spec.hub_repo} from the Hugging Face hub "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}); "
            f"{manual_steps(spec, folder)}"
        ) from error
    if spec.layout == "deepseek":
        convert_checkpoint(source, folder, keep_generation=keep_generation)
    manifest = write_manifest(folder, spec, revision)
    return PulledWeights(folder, revision, len(manifest["files"]))


def _weight_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST and ".cache" not in p.relative_to(folder).parts
    )


def write_manifest(folder: Path, spec: ReporterSpec, revision: str | None) -> dict[str, Any]:
    """Record the sha256 of every file in the folder (the hub's own cache excluded)."""
    manifest = {
        "model_id": spec.model_id,
        "hub_repo": spec.hub_repo,
        "revision": revision,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {str(p.relative_to(folder)): file_sha256(p) for p in _weight_files(folder)},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def verify_weights_folder(spec: ReporterSpec, models_dir: Path | None = None) -> dict[str, Any]:
    """Check every file against the manifest; raise listing what is missing, changed or unrecorded."""
    folder = require_weights(spec, models_dir)
    path = folder / MANIFEST
    if not path.is_file():
        raise WeightsNotFoundError(
            f"{path}: no manifest; run `januscxr models pull {spec.model_id}`, or after copying by hand "
            f"`januscxr models verify {spec.model_id} --record` to record the files' sha256"
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    recorded: dict[str, str] = manifest["files"]
    present = {str(p.relative_to(folder)): p for p in _weight_files(folder)}
    missing = sorted(recorded.keys() - present.keys())
    extra = sorted(present.keys() - recorded.keys())
    changed = sorted(name for name in recorded.keys() & present.keys() if file_sha256(present[name]) != recorded[name])
    if missing or changed or extra:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("missing", missing), ("sha256 changed", changed), ("not in the manifest", extra))
            if names
        ]
        raise ChecksumMismatchError(f"{folder}: {'; '.join(parts)}; expected the files recorded in {MANIFEST}")
    return manifest
