"""Converting a published expert's PyTorch file into januscxr's safetensors layout, without running its code.

The published files are pickles: torchxrayvision's DenseNets pickle the whole ``nn.Module``,
CheXNet's ``model.pth.tar`` a training checkpoint, torchxrayvision's ResNet-50 a state dict. A
pickle can name any function to call while it loads, so it is read by :class:`TensorUnpickler`,
which rebuilds tensors and plain containers and turns every module class it is told about into
an inert record of its attributes; any other name (``os.system``, ``builtins.eval``...) ends the
load with an error naming it, before anything is called.

The tensors found are renamed onto :mod:`januscxr.models.densenet`'s networks and checked
strictly: every tensor of the network present with the right shape, no tensor left over; the
first problem is named. The converted file carries the publisher's label order, the mapping onto
januscxr's findings and the published thresholds in its metadata (:mod:`januscxr.models.published`).
"""

from __future__ import annotations

import json
import math
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from safetensors.torch import save_file

from januscxr.errors import ModelError
from januscxr.models.densenet import build_network
from januscxr.models.expert_store import expert_folder, write_record
from januscxr.models.published import PublishedExpert, published_threshold, sources_by_finding
from januscxr.models.weights_file import file_sha256

# Module classes a published file may pickle: torch's layers and torchxrayvision's own.
_MODULE_PREFIXES = ("torch.nn.modules.", "torchxrayvision.")
_ALLOWED = {
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
}
_IGNORED = {"op_threshs"}  # torchxrayvision's buffer of thresholds: taken from the catalogue instead


class PickledModule:
    """What a pickled ``nn.Module`` becomes here: its class path and attribute dict; no method of it runs."""

    path = ""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple):  # (dict state, slot state)
            state = state[0]
        self.state = dict(state) if isinstance(state, Mapping) else {}


_RECORD_CLASSES: dict[str, type[PickledModule]] = {}


def _record_class(path: str) -> type[PickledModule]:
    if path not in _RECORD_CLASSES:
        _RECORD_CLASSES[path] = type(path.rsplit(".", 1)[-1], (PickledModule,), {"path": path})
    return _RECORD_CLASSES[path]


def _no_backend() -> None:
    """Old torch (< 1.5) pickled each module's THNN backend as a call to this name; it is not needed."""
    return None


class RefusedGlobalError(ModelError):
    """A pickle asked for a function or class that is not a tensor, a container or a known module."""


class TensorUnpickler(pickle.Unpickler):
    """Rebuilds tensors, dicts, lists and module records; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module  # protocol 2 writes Python 2 names
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module in {"torch", "torch.cuda"} and name.endswith("Storage"):
            return getattr(torch, name)  # legacy storage types (torch.FloatStorage), data only
        if module == "torch.nn.backends.thnn" and name == "_get_thnn_function_backend":
            return _no_backend
        if module.startswith(_MODULE_PREFIXES) and name.isidentifier():
            return _record_class(f"{module}.{name}")
        raise RefusedGlobalError(f"{module}.{name}")


# torch.load's pickle_module: the module it takes Unpickler and load from.
restricted_pickle = ModuleType("januscxr_restricted_pickle")
restricted_pickle.Unpickler = TensorUnpickler  # type: ignore[attr-defined]
restricted_pickle.load = lambda file, **kwargs: TensorUnpickler(file, **kwargs).load()  # type: ignore[attr-defined]


def read_tensors(path: Path, expected: str) -> tuple[dict[str, torch.Tensor], str]:
    """Every tensor of a published file by its name in the file, and the container it came in."""
    try:
        with warnings.catch_warnings():  # legacy files: torch compares module source code, absent for records
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle)
    except RefusedGlobalError as error:
        raise ModelError(
            f"{path}: refused to load: its pickle would call {error}, which is not a tensor, a container or a "
            f"known network layer (a pickle that runs code); expected {expected}"
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as error:
        raise ModelError(f"{path}: not a PyTorch file januscxr can read ({error}); expected {expected}") from None
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror or error}); expected {expected}") from None
    if isinstance(loaded, PickledModule):
        tensors: dict[str, torch.Tensor] = {}
        _module_tensors(loaded, "", tensors)
        return tensors, f"pickled module {loaded.path}"
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        return _state_dict(loaded["state_dict"], path, expected), "checkpoint dict with 'state_dict'"
    if isinstance(loaded, Mapping):
        return _state_dict(loaded, path, expected), "state dict"
    raise ModelError(f"{path}: holds a {type(loaded).__name__}; expected {expected}")


def _module_tensors(module: PickledModule, prefix: str, out: dict[str, torch.Tensor]) -> None:
    state = module.state
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, value in (state.get(kind) or {}).items():
            if isinstance(value, torch.Tensor) and name not in skipped:
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PickledModule):
            _module_tensors(child, f"{prefix}{name}.", out)


def _state_dict(values: Mapping[Any, Any], path: Path, expected: str) -> dict[str, torch.Tensor]:
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor; expected {expected}")
    return dict(values)


def canonical_name(key: str) -> str:
    """A published tensor name in januscxr's network: no DataParallel or CheXNet wrapper, current DenseNet names."""
    key = re.sub(r"^(module\.)+", "", key)
    key = key.removeprefix("densenet121.")
    key = re.sub(r"\.(norm|relu|conv)\.([12])\.", r".\1\2.", key)  # torchvision < 0.3 named them norm.1, conv.2
    return key.replace("classifier.0.", "classifier.")  # CheXNet's head is Sequential(Linear, Sigmoid)


@dataclass(frozen=True)
class ConversionSummary:
    weights: Path
    sha256: str
    tensors: int
    parameters: int
    container: str
    source_sha256: str


def map_tensors(
    tensors: Mapping[str, torch.Tensor], expert: PublishedExpert, source: Path
) -> OrderedDict[str, torch.Tensor]:
    """The network's state dict from a published file's tensors; the first missing, misshapen or extra tensor is an error."""
    with torch.device("meta"):
        network = build_network(expert.architecture, len(expert.outputs), expert.in_channels)
    wanted = network.state_dict()
    found: dict[str, tuple[str, torch.Tensor]] = {}
    for original, tensor in tensors.items():
        found[canonical_name(original)] = (original, tensor)
    what = f"{expert.model_id} ({expert.architecture}, {len(expert.outputs)} outputs, {expert.source_file})"
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, like in wanted.items():
        if name not in found:
            if name.endswith("num_batches_tracked"):  # batch norms saved before torch 0.4.1 have none
                mapped[name] = torch.zeros((), dtype=torch.long)
                continue
            raise ModelError(
                f"{source}: tensor {name} is missing ({len(tensors)} tensors in the file); expected the "
                f"{len(wanted)} tensors of {what}"
            )
        original, tensor = found[name]
        if tuple(tensor.shape) != tuple(like.shape):
            raise ModelError(
                f"{source}: tensor {original} has shape {tuple(tensor.shape)}; expected {tuple(like.shape)} for {what}"
            )
        mapped[name] = tensor.detach().to(like.dtype).contiguous().clone()
    extra = [original for name, (original, _) in found.items() if name not in wanted and name not in _IGNORED]
    if extra:
        raise ModelError(
            f"{source}: tensor {extra[0]} is not part of {what}; expected exactly its {len(wanted)} tensors"
        )
    return mapped


def published_metadata(expert: PublishedExpert) -> dict[str, str]:
    """The converted file's metadata: label order, finding sources and the published calibration."""
    sources = sources_by_finding(expert)
    output_thresholds = [published_threshold(expert, i) for i in range(len(expert.outputs))]
    primary = {f.value: output_thresholds[indices[0]] for f, indices in sources.items()}
    return {
        "format": "januscxr-expert",
        "model_id": expert.model_id,
        "version": expert.version,
        "architecture": expert.architecture,
        "in_channels": str(expert.in_channels),
        "input_size": str(expert.input_size),
        "preprocessing": expert.preprocessing.value,
        "outputs": json.dumps(list(expert.outputs)),
        "output_thresholds": json.dumps(output_thresholds),
        "sources": json.dumps({f.value: list(indices) for f, indices in sources.items()}),
        "findings": json.dumps([f.value for f in sources]),
        "temperatures": json.dumps(dict.fromkeys(primary, 1.0)),
        "biases": json.dumps({f: math.log(t / (1.0 - t)) for f, t in primary.items()}),
        "thresholds": json.dumps(primary),
    }


def convert_published(expert: PublishedExpert, source: Path, models_dir: Path | None = None) -> ConversionSummary:
    """Convert ``source`` (the published file) into ``<models dir>/<model id>/`` and record both sha256."""
    source = Path(source)
    if not source.is_file():
        raise ModelError(f"{source}: file not found; expected {expert.source_file} from {expert.source_url}")
    expected = f"{expert.source_file} ({expert.publisher})"
    tensors, container = read_tensors(source, expected)
    state = map_tensors(tensors, expert, source)
    folder = expert_folder(expert.model_id, models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{expert.model_id}.safetensors"
    partial = weights.with_suffix(".partial")
    metadata = published_metadata(expert) | {"source_file": source.name, "source_container": container}
    save_file(dict(state), str(partial), metadata=metadata)
    partial.replace(weights)
    sha256, source_sha256 = file_sha256(weights), file_sha256(source)
    write_record(
        folder,
        {
            "model_id": expert.model_id,
            "weights": weights.name,
            "sha256": sha256,
            "source_file": source.name,
            "source_sha256": source_sha256,
            "source_container": container,
            "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    parameters = sum(t.numel() for n, t in state.items() if not n.endswith("num_batches_tracked"))
    return ConversionSummary(weights, sha256, len(state), parameters, container, source_sha256)
