"""DeepSeek's original Janus layout (``multi_modality``) -> the Hugging Face Janus layout.

The published Janus-Pro and Janus-Pro-CXR checkpoints are saved by DeepSeek's
``MultiModalityCausalLM``: a timm SigLIP tower with fused ``qkv`` projections, ``MlpProjector``
aligners, the VQ-16 image tokenizer, a generation head and a ``LlamaForCausalLM``. transformers'
``JanusForConditionalGeneration`` holds the same weights under other names. This module renames
them (our own mapping, below), splits the fused attention weights, and checks every parameter --
name, shape and count -- against the target model before writing anything: a partial checkpoint
is refused with the list of what is missing or unexpected.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from januscxr.errors import ModelError

LAYOUT_FILE = "januscxr.json"
LAYOUT_FORMAT = "januscxr-janus-hf/1"
GENERATION_SOURCE_PREFIXES = ("gen_vision_model.", "gen_aligner.", "gen_head.", "gen_embed.")
GENERATION_TARGET_PREFIXES = ("model.vqmodel.", "model.generation_")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

# Source tensors the understanding path never reads: timm's attention-pool head, the VQ codebook
# usage counter, rotary caches of older transformers.
_UNUSED = re.compile(
    r"^vision_model\.vision_tower\.attn_pool\.|^gen_vision_model\.quantize\.codebook_used$|rotary_emb\.inv_freq$"
)

# Sizes fixed by the original code's model names rather than written in config.json.
VISION_TOWERS: dict[str, dict[str, Any]] = {
    "siglip_large_patch16_384": {"width": 1024, "layers": 24, "heads": 16, "patch_size": 16, "mlp_ratio": 4.0},
}
VQ_MODELS: dict[str, dict[str, Any]] = {
    "VQ-16": {"base_channels": 128, "channel_multiplier": [1, 1, 2, 2, 4], "num_res_blocks": 2, "z_channels": 256},
}


def _published(hidden: int, intermediate: int, layers: int, heads: int) -> dict[str, Any]:
    vision = {"image_size": 384, "model_name": "siglip_large_patch16_384", "select_feature": "same", "select_layer": -1}
    return {
        "architectures": ["MultiModalityCausalLM"],
        "model_type": "multi_modality",
        "torch_dtype": "bfloat16",
        "vision_config": {"cls": "CLIPVisionTower", "model_type": "vision", "params": vision},
        "aligner_config": {
            "cls": "MlpProjector",
            "model_type": "aligner",
            "params": {"depth": 2, "input_dim": 1024, "n_embed": hidden, "projector_type": "mlp_gelu"},
        },
        "gen_vision_config": {
            "cls": "VQ-16",
            "model_type": "gen_vision",
            "params": {"image_token_size": 16384, "n_embed": 8},
        },
        "gen_aligner_config": {
            "cls": "MlpProjector",
            "model_type": "gen_aligner",
            "params": {"depth": 2, "input_dim": 8, "n_embed": hidden, "projector_type": "mlp_gelu"},
        },
        "gen_head_config": {
            "cls": "vision_head",
            "model_type": "gen_head",
            "params": {"image_token_embed": hidden, "image_token_size": 16384, "n_embed": hidden},
        },
        "language_config": {
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "max_position_embeddings": 16384,
            "model_type": "llama",
            "num_attention_heads": heads,
            "num_hidden_layers": layers,
            "num_key_value_heads": heads,
            "torch_dtype": "bfloat16",
            "vocab_size": 102400,
        },
    }


# The published config.json of DeepSeek's checkpoints (Janus-Pro-CXR keeps Janus-Pro-1B's), for
# sizing benchmarks and tests without a download. Special-token ids are those of the DeepSeek vocabulary.
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "janus-pro-1b": _published(hidden=2048, intermediate=5632, layers=24, heads=16),
    "janus-pro-7b": _published(hidden=4096, intermediate=11008, layers=30, heads=32),
}
PUBLISHED_TOKEN_IDS = {"bos": 100000, "eos": 100001, "pad": 100015, "image": 100581}

_VISION_BLOCK_PARTS = {
    "norm1": "layer_norm1",
    "norm2": "layer_norm2",
    "attn.qkv": "self_attn.qkv",  # split into q_proj, k_proj, v_proj
    "attn.proj": "self_attn.projection_layer",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}


@dataclass(frozen=True)
class ConversionSummary:
    """What :func:`convert_checkpoint` wrote."""

    destination: Path
    tensors: int
    parameters: int
    dropped: int
    generation_modules: bool
    num_image_tokens: int


def target_name(source: str) -> str | None:
    """The Hugging Face name of an original tensor; ``None`` when no rule covers it."""
    tower = "vision_model.vision_tower."
    if source.startswith(tower):
        return _vision_name(source.removeprefix(tower))
    for prefix, target in (("aligner.", "model.aligner."), ("gen_aligner.", "model.generation_aligner.")):
        if source.startswith(prefix):
            return _projector_name(source.removeprefix(prefix), target)
    if source.startswith("gen_head."):
        rest = source.removeprefix("gen_head.").replace("output_mlp_projector.", "proj_out.", 1)
        return "model.generation_head." + rest
    if source == "gen_embed.weight":
        return "model.generation_embeddings.weight"
    if source.startswith("gen_vision_model."):
        return "model.vqmodel." + _vq_name(source.removeprefix("gen_vision_model."))
    if source == "language_model.lm_head.weight":
        return "lm_head.weight"
    if source.startswith("language_model.model."):
        return "model.language_model." + source.removeprefix("language_model.model.")
    return None


def _vision_name(rest: str) -> str | None:
    if rest == "pos_embed":
        return "model.vision_model.embeddings.position_embedding.weight"
    if rest.startswith("patch_embed.proj."):
        return "model.vision_model.embeddings.patch_embedding." + rest.rsplit(".", 1)[1]
    if rest.startswith("norm."):
        return "model.vision_model.post_layernorm." + rest.rsplit(".", 1)[1]
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", rest)
    if match and match.group(2) in _VISION_BLOCK_PARTS:
        layer, part, leaf = match.groups()
        return f"model.vision_model.encoder.layers.{layer}.{_VISION_BLOCK_PARTS[part]}.{leaf}"
    return None


def _projector_name(rest: str, target: str) -> str | None:
    # MlpProjector("mlp_gelu") is Sequential(Linear, GELU, Linear, ...): Linear k sits at index 2k.
    match = re.fullmatch(r"layers\.(\d+)\.(weight|bias)", rest)
    if not match or int(match.group(1)) % 2:
        return None
    index = int(match.group(1)) // 2
    return f"{target}fc1.{match.group(2)}" if index == 0 else f"{target}hidden_layers.{index - 1}.{match.group(2)}"


def _vq_name(rest: str) -> str:
    rest = rest.replace("encoder.conv_blocks.", "encoder.down.").replace("decoder.conv_blocks.", "decoder.up.")
    rest = re.sub(r"\.res\.(\d+)\.", r".block.\1.", rest)
    for index, name in enumerate(("block_1", "attn_1", "block_2")):
        rest = rest.replace(f"mid.{index}.", f"mid.{name}.")
    return rest


def convert_state_dict(
    tensors: dict[str, torch.Tensor], *, keep_generation: bool = True
) -> tuple[dict[str, torch.Tensor], list[str], int]:
    """Renamed and split tensors, the source names no rule covers, and the count dropped on purpose."""
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    dropped = 0
    for source, tensor in tensors.items():
        if _UNUSED.search(source) or (not keep_generation and source.startswith(GENERATION_SOURCE_PREFIXES)):
            dropped += 1
            continue
        name = target_name(source)
        if name is None:
            unknown.append(source)
        elif ".self_attn.qkv." in name:
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), _split_fused(tensor, source), strict=True):
                converted[name.replace(".qkv.", f".{part}.")] = chunk
        elif name.endswith("position_embedding.weight"):
            converted[name] = tensor.reshape(tensor.shape[-2], tensor.shape[-1])  # (1, N, D) -> (N, D)
        else:
            converted[name] = tensor
    return converted, unknown, dropped


def _split_fused(tensor: torch.Tensor, source: str) -> list[torch.Tensor]:
    if tensor.shape[0] % 3:
        raise ModelError(
            f"{source}: fused qkv of shape {tuple(tensor.shape)}; expected a first dimension divisible by 3"
        )
    return [chunk.clone() for chunk in tensor.chunk(3, dim=0)]


def janus_config(original: dict[str, Any], *, token_ids: dict[str, int]) -> Any:
    """A transformers ``JanusConfig`` from DeepSeek's config.json and the tokenizer's special ids."""
    from transformers import JanusConfig, LlamaConfig
    from transformers.models.janus.configuration_janus import JanusVisionConfig, JanusVQVAEConfig

    if original.get("model_type") != "multi_modality":
        raise ModelError(
            f"config.json has model_type {original.get('model_type')!r}; expected 'multi_modality' (DeepSeek's layout)"
        )
    vision_params = dict(original["vision_config"]["params"])
    if int(vision_params.get("select_layer", -1)) != -1:
        raise ModelError(f"vision select_layer {vision_params['select_layer']} is not supported; expected -1")
    tower = {**VISION_TOWERS.get(str(vision_params.get("model_name")), {}), **vision_params}
    aligner = original["aligner_config"]["params"]
    image_size, patch = int(tower["image_size"]), int(tower["patch_size"])
    vision = JanusVisionConfig(
        hidden_size=int(tower["width"]),
        num_hidden_layers=int(tower["layers"]),
        num_attention_heads=int(tower["heads"]),
        image_size=image_size,
        patch_size=patch,
        mlp_ratio=float(tower["mlp_ratio"]),
        projection_dim=int(aligner["n_embed"]),
        depth=int(aligner["depth"]),
        num_image_tokens=(image_size // patch) ** 2,
    )
    vq_params = original["gen_vision_config"]["params"]
    vq_sizes = {**VQ_MODELS.get(str(original["gen_vision_config"].get("cls")), VQ_MODELS["VQ-16"]), **vq_params}
    vq = JanusVQVAEConfig(
        embed_dim=int(vq_params["n_embed"]),
        num_embeddings=int(vq_params["image_token_size"]),
        base_channels=int(vq_sizes["base_channels"]),
        channel_multiplier=list(vq_sizes["channel_multiplier"]),
        num_res_blocks=int(vq_sizes["num_res_blocks"]),
        latent_channels=int(vq_sizes["z_channels"]),
        projection_dim=int(original["gen_aligner_config"]["params"]["n_embed"]),
        num_hidden_layers=int(original["gen_aligner_config"]["params"]["depth"]),
        image_token_embed_dim=int(original["gen_head_config"]["params"]["image_token_embed"]),
    )
    language = original["language_config"]
    text_keys: tuple[str, ...] = (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
    )
    text_keys += ("num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta", "hidden_act")
    text = LlamaConfig(
        **{key: language[key] for key in text_keys if key in language},
        bos_token_id=token_ids["bos"],
        eos_token_id=token_ids["eos"],
        pad_token_id=token_ids["pad"],
        tie_word_embeddings=False,  # Janus keeps a separate lm_head
    )
    return JanusConfig(
        text_config=text,
        vision_config=vision,
        vq_config=vq,
        image_token_id=token_ids["image"],
        tie_word_embeddings=False,
    )


def expected_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """Every parameter the Hugging Face model holds, built on the meta device (no memory, no init)."""
    from transformers import JanusForConditionalGeneration

    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def check_parameters(
    produced: dict[str, tuple[int, ...]],
    expected: dict[str, tuple[int, ...]],
    *,
    where: Path,
    unknown: list[str] | None = None,
    optional_prefixes: tuple[str, ...] = (),
) -> None:
    """Raise a :class:`ModelError` listing missing, unexpected and wrongly shaped tensors."""
    missing = sorted(
        k for k in expected.keys() - produced.keys() if not (optional_prefixes and k.startswith(optional_prefixes))
    )
    unexpected = sorted(set(unknown or []) | (produced.keys() - expected.keys()))
    wrong = sorted(
        f"{k} {list(produced[k])} (expected {list(expected[k])})"
        for k in produced.keys() & expected.keys()
        if produced[k] != expected[k]
    )
    if missing or unexpected or wrong:
        parts = [
            f"{len(items)} {label}: {_few(items)}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("with the wrong shape", wrong))
            if items
        ]
        raise ModelError(
            f"{where}: refusing a partial load; {'; '.join(parts)}. "
            f"Expected all {len(expected)} tensors of the Janus checkpoint (damaged or incomplete download?)"
        )


def _few(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def read_original_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint folder: safetensors files or ``.bin`` shards (loaded weights-only)."""
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise ModelError(f"{folder}: no *.safetensors or pytorch_model*.bin files; expected the checkpoint's weights")
    tensors: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            part = (
                load_file(str(path))
                if path.suffix == ".safetensors"
                else torch.load(path, map_location="cpu", weights_only=True)
            )
        except Exception as error:  # a truncated or corrupt file raises many kinds of error
            raise ModelError(f"{path}: cannot read the weights ({error}); the file is damaged or incomplete") from error
        tensors.update(part)
    return tensors


def _token_ids(folder: Path) -> dict[str, int]:
    from januscxr.models.janus_text import JanusTokenizer

    tokenizer = JanusTokenizer.from_dir(folder)
    return {"bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id, "image": tokenizer.image_id}


def convert_checkpoint(
    source: Path, destination: Path, *, keep_generation: bool = True, dtype: torch.dtype | None = None
) -> ConversionSummary:
    """Convert DeepSeek's layout in ``source`` into the Hugging Face layout in ``destination``.

    Parameters
    ----------
    source
        Folder with ``config.json`` (``multi_modality``), the tokenizer files,
        ``preprocessor_config.json`` and ``*.safetensors`` or ``pytorch_model*.bin`` weights.
    destination
        Folder to write ``config.json``, ``model.safetensors``, the tokenizer, the image
        processor settings and ``januscxr.json``.
    keep_generation
        Keep the image-generation modules (VQ model, generation aligner, head and embeddings).
    dtype
        Cast the weights (default: keep the checkpoint's dtype).
    """
    from safetensors.torch import save_file

    original = _read_json(source / "config.json")
    config = janus_config(original, token_ids=_token_ids(source))
    tensors, unknown, dropped = convert_state_dict(read_original_tensors(source), keep_generation=keep_generation)
    optional = () if keep_generation else GENERATION_TARGET_PREFIXES
    expected = {k: v for k, v in expected_shapes(config).items() if not k.startswith(optional)}
    check_parameters({k: tuple(v.shape) for k, v in tensors.items()}, expected, where=source, unknown=unknown)
    if dtype is not None:
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
    destination.mkdir(parents=True, exist_ok=True)
    config.dtype = next(iter(tensors.values())).dtype
    config.save_pretrained(destination)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(destination / "model.safetensors"),
        metadata={"format": "pt"},
    )
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, destination / name)
    _write_image_processor(source, destination, int(config.vision_config.image_size))
    summary = ConversionSummary(
        destination=destination,
        tensors=len(tensors),
        parameters=sum(t.numel() for t in tensors.values()),
        dropped=dropped,
        generation_modules=keep_generation,
        num_image_tokens=int(config.vision_config.num_image_tokens),
    )
    _write_layout(destination, source, summary)
    return summary


def _write_image_processor(source: Path, destination: Path, image_size: int) -> None:
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    settings = (
        _read_json(source / "preprocessor_config.json") if (source / "preprocessor_config.json").is_file() else {}
    )
    size = int(settings.get("image_size", image_size))
    kwargs = {
        k: settings[k]
        for k in ("image_mean", "image_std", "min_size", "rescale_factor", "do_normalize")
        if k in settings
    }
    JanusImageProcessorPil(size={"height": size, "width": size}, **kwargs).save_pretrained(destination)


def _write_layout(destination: Path, source: Path, summary: ConversionSummary) -> None:
    from importlib.metadata import version

    import transformers

    layout = {
        "format": LAYOUT_FORMAT,
        "source": str(source),
        "source_layout": "deepseek multi_modality",
        "generation_modules": summary.generation_modules,
        "num_image_tokens": summary.num_image_tokens,
        "tensors": summary.tensors,
        "parameters": summary.parameters,
        "dropped_source_tensors": summary.dropped,
        "converted_by": f"januscxr {version('januscxr')}, transformers {transformers.__version__}",
    }
    (destination / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"{path}: not found; expected the checkpoint's {path.name}")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from error


def iter_layout_problems(folder: Path) -> Iterator[str]:
    """What a Hugging Face-layout Janus folder lacks, one line per missing piece."""
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"):
        if not (folder / name).is_file():
            yield f"{name} missing"
