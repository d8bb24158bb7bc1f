"""The Janus backend: transformers' ``JanusForConditionalGeneration`` behind a small, tested surface.

It loads a Hugging Face-layout checkpoint (see :mod:`januscxr.models.janus_conversion` for
DeepSeek's layout) strictly, preprocesses images with the checkpoint's ``JanusImageProcessorPil``
settings (long side to 384, padded to a square with the mean colour, normalised), lays out prompt
tokens as DeepSeek's processor does (begin-of-sentence, text, and each ``<image_placeholder>``
expanded to begin-of-image + N image tokens + end-of-image) and decodes greedily, in batches,
with streaming and a repetition guard. Prompt wording lives in :mod:`januscxr.report.prompt`.

transformers is imported when a model is loaded, not when this module is.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from januscxr.errors import ModelError, ModelOutOfMemoryError, WeightsNotFoundError
from januscxr.models.janus_conversion import (
    GENERATION_TARGET_PREFIXES,
    LAYOUT_FILE,
    check_parameters,
    expected_shapes,
    iter_layout_problems,
)
from januscxr.models.janus_decoding import fuse_projections, preallocated_cache, use_cpu_decode_attention
from januscxr.models.janus_text import JanusTokenizer, TokenStream, repeated_tail
from januscxr.types import Image

logger = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 512


class Precision(StrEnum):
    """How the weights are held: ``auto`` is bfloat16 on CUDA and float32 on CPU."""

    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"  # CPU only: dynamic int8 quantization of every Linear layer


class StopReason(StrEnum):
    EOS = "eos"
    LENGTH = "length"
    REPETITION = "repetition"


@dataclass(frozen=True)
class Generation:
    """One decoded answer: text, the generated token ids (end-of-sentence excluded), why it stopped."""

    text: str
    token_ids: tuple[int, ...]
    stop_reason: StopReason


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return resolved


def resolve_precision(precision: str | Precision, device: torch.device) -> Precision:
    """``auto`` -> bfloat16 on CUDA, float32 on CPU; int8 only on CPU."""
    chosen = Precision(precision)
    if chosen is Precision.AUTO:
        return Precision.BFLOAT16 if device.type == "cuda" else Precision.FLOAT32
    if chosen is Precision.INT8 and device.type != "cpu":
        raise ModelError(f"precision int8 runs on CPU only; got device {device}. Use bfloat16 on a GPU")
    return chosen


@contextmanager
def memory_guard(what: str, device: torch.device) -> Iterator[None]:
    """Turn out-of-memory failures into a :class:`ModelOutOfMemoryError` that says what to try."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as error:
        raise _out_of_memory(what, device) from error
    except RuntimeError as error:
        if "out of memory" in str(error) or "can't allocate memory" in str(error):
            raise _out_of_memory(what, device) from error
        raise


@contextmanager
def attention_kernels(device: torch.device) -> Iterator[None]:
    """On CUDA, keep PyTorch's attention off cuDNN: it builds a graph for every new key length,
    and made each bfloat16 decode step 6x slower on an H200 (87.8 ms vs 14.1 ms; docs/janus.md)."""
    if device.type != "cuda":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        yield


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars or advisory warnings from transformers while we load or generate."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def _out_of_memory(what: str, device: torch.device) -> ModelOutOfMemoryError:
    hint = (
        "fewer studies per batch or a GPU"
        if device.type == "cpu"
        else "fewer studies per batch or --precision bfloat16"
    )
    return ModelOutOfMemoryError(f"out of {device.type.upper()} memory while {what}; try {hint}")


class JanusBackend:
    """A loaded Janus model with its tokenizer and image processor."""

    def __init__(
        self,
        model: Any,
        tokenizer: JanusTokenizer,
        image_processor: Any,
        *,
        device: torch.device,
        precision: Precision,
        name: str = "janus",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.device = device
        self.precision = precision
        self.name = name
        self.num_image_tokens = int(model.config.vision_config.num_image_tokens)

    @property
    def pixel_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision is Precision.BFLOAT16 else torch.float32

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids as DeepSeek's processor lays them out: each placeholder -> BOI + N image tokens + EOI."""
        ids: list[int] = []
        for token in self.tokenizer.encode(prompt):
            if token == self.tokenizer.image_id:
                ids += [self.tokenizer.image_start_id, *[self.tokenizer.image_id] * self.num_image_tokens]
                ids.append(self.tokenizer.image_end_id)
            else:
                ids.append(token)
        return ids

    def pixel_values(self, images: Sequence[Image]) -> torch.Tensor:
        """(B, 3, S, S) normalised pixels from grayscale images in [0, 1]."""
        rgb = [
            np.repeat(np.round(np.clip(i.pixels, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2) for i in images
        ]
        batch = self.image_processor(images=rgb, return_tensors="pt")
        return batch["pixel_values"].to(self.device, self.pixel_dtype)  # type: ignore[no-any-return]

    def batch_inputs(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input ids and attention mask, as DeepSeek's ``batchify`` pads."""
        encoded = [self.encode_prompt(p) for p in prompts]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def generate(
        self,
        prompts: Sequence[str],
        images: Sequence[Image],
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        on_text: Callable[[int, str], None] | None = None,
    ) -> list[Generation]:
        """Greedy answers, one per (prompt, image); ``on_text(index, delta)`` streams them."""
        if len(prompts) != len(images):
            raise ModelError(f"{len(prompts)} prompts for {len(images)} images; expected one prompt per image")
        if not prompts:
            return []
        from transformers import GenerationConfig, StoppingCriteriaList

        input_ids, mask = self.batch_inputs(prompts)
        guard = RepetitionGuard(input_ids.shape[1])
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
            bos_token_id=self.tokenizer.bos_id,
            eos_token_id=self.tokenizer.eos_id,
            pad_token_id=self.tokenizer.eos_id,  # as the reference: finished rows are filled with EOS
        )
        stream = TokenStream(self.tokenizer, on_text) if on_text is not None else None
        with (
            memory_guard(f"drafting {len(prompts)} report(s)", self.device),
            attention_kernels(self.device),
            quiet_transformers(),
            torch.inference_mode(),
        ):
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                pixel_values=self.pixel_values(images),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([guard]),
                streamer=stream,
                cache=preallocated_cache(self.model.config.text_config, input_ids.shape[1] + max_new_tokens),
            )
        return [self._finish(row, max_new_tokens) for row in output[:, input_ids.shape[1] :].tolist()]

    def _finish(self, tokens: list[int], max_new_tokens: int) -> Generation:
        eos = self.tokenizer.eos_id
        if eos in tokens:
            kept, reason = tokens[: tokens.index(eos)], StopReason.EOS
        else:
            kept, reason = tokens, StopReason.LENGTH
        cut = repeated_tail(kept)
        if cut:
            kept, reason = kept[: len(kept) - cut], StopReason.REPETITION
        return Generation(self.tokenizer.decode(kept), tuple(kept), reason)


class RepetitionGuard:
    """Stops a row once its greedy output has fallen into a loop (see :func:`repeated_tail`)."""

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        tails = input_ids[:, self.prompt_length :].tolist()
        return torch.tensor([repeated_tail(t) > 0 for t in tails], dtype=torch.bool, device=input_ids.device)


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 weights for every Linear layer that runs for text: vision, aligner, LM, head.

    In the language model, q/k/v and gate/up are stacked into one product each
    (:func:`fuse_projections`). Weights are quantized per output channel, exactly as PyTorch's
    ``quantize_dynamic`` with its per-channel config does, from float32 copies made one layer at a
    time, on every CPU thread; activations are quantized per call, so a row's numbers depend a
    little on its batch. The model may arrive in the checkpoint's bfloat16: float32 copies exist
    only for the layers being quantized, and whatever is not quantized is made float32 at the end.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices; the kernels are what we measure
        fuse_projections(model)
        targets = [
            (parent, name, child)
            for module in (model.model.vision_model, model.model.aligner, model.model.language_model)
            for parent in module.modules()
            for name, child in parent.named_children()
            if type(child) is torch.nn.Linear
        ]
        targets.append((model, "lm_head", model.lm_head))
        with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
            quantized = list(pool.map(int8_linear, [linear for _, _, linear in targets]))
        for (parent, name, _), module in zip(targets, quantized, strict=True):
            setattr(parent, name, module)
    return model.float()


def int8_linear(linear: torch.nn.Linear) -> torch.nn.Module:
    """A dynamic int8 Linear with per-channel weights: ``quantize_dynamic``'s numbers, packed once.

    The same numbers as ``torch.ao.quantization.quantize_dynamic`` with ``per_channel_dynamic_qconfig``,
    without its ``from_float``'s packing of a full-size placeholder first.
    """
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    weight = linear.weight.detach().float()
    observer = per_channel_dynamic_qconfig.weight()
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    qweight = torch.quantize_per_channel(weight, scale.double(), zero_point.long(), 0, torch.qint8)
    bias = linear.bias.detach().float() if linear.bias is not None else None
    module = DynamicLinear(1, 1, bias_=bias is not None)  # a 1 x 1 placeholder, replaced below
    module.set_weight_bias(qweight, bias)
    module.in_features = int(linear.in_features)
    module.out_features = int(linear.out_features)
    return module


def layout_info(folder: Path) -> dict[str, Any]:
    path = folder / LAYOUT_FILE
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def check_checkpoint(folder: Path, config: Any) -> None:
    """Every tensor name and shape in ``model.safetensors`` against the model's, before loading."""
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        produced = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    generation = layout_info(folder).get("generation_modules", True)
    optional = () if generation else GENERATION_TARGET_PREFIXES
    check_parameters(produced, expected_shapes(config), where=folder / "model.safetensors", optional_prefixes=optional)


def load_janus(
    folder: Path,
    *,
    device: str | torch.device | None = None,
    precision: str | Precision = Precision.AUTO,
    name: str = "janus",
) -> JanusBackend:
    """Load a Hugging Face-layout Janus checkpoint strictly, on the chosen device and precision."""
    problems = list(iter_layout_problems(folder))
    if problems:
        raise WeightsNotFoundError(f"{folder}: {', '.join(problems)}; expected a converted Janus checkpoint")
    config_json = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config_json.get("model_type") == "multi_modality":
        raise ModelError(
            f"{folder} is in DeepSeek's original layout; convert it first: januscxr models convert {folder} DST"
        )
    from transformers import JanusConfig, JanusForConditionalGeneration
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    config = JanusConfig.from_pretrained(folder)
    check_checkpoint(folder, config)
    resolved = resolve_device(device)
    chosen = resolve_precision(precision, resolved)
    dtype: Any = {Precision.BFLOAT16: torch.bfloat16, Precision.INT8: "auto"}.get(chosen, torch.float32)
    with memory_guard(f"loading {folder}", resolved), quiet_transformers():
        # int8 loads the checkpoint's own dtype (mapped, about 1 s for bfloat16) and quantizes from it
        model: Any = JanusForConditionalGeneration.from_pretrained(folder, dtype=dtype, local_files_only=True)
        model = model.to(resolved).eval()
        if resolved.type == "cpu":
            use_cpu_decode_attention(model)
        if chosen is Precision.INT8:
            model = quantize_int8(model)
    return JanusBackend(
        model,
        JanusTokenizer.from_dir(folder),
        JanusImageProcessorPil.from_pretrained(folder),
        device=resolved,
        precision=chosen,
        name=name,
    )
