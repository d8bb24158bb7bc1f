"""A tiny random Janus checkpoint and tokenizer, in both layouts, built without downloads.

``write_tiny_janus`` writes the Hugging Face layout the backend loads; ``write_tiny_original``
writes DeepSeek's ``multi_modality`` layout with parameter names as the original code names them
(timm SigLIP tower with fused ``qkv``, ``MlpProjector`` aligners, the VQ-16 model, ``gen_head``,
``gen_embed`` and a ``LlamaForCausalLM``), for the converter to turn into the first.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from tokenizers import decoders as token_decoders

from januscxr.models.janus_text import (
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_END_TOKEN,
    IMAGE_START_TOKEN,
    IMAGE_TOKEN,
    PAD_TOKEN,
)

SPECIAL_TOKENS = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN, IMAGE_START_TOKEN, IMAGE_END_TOKEN]
TINY_IMAGE_SIZE = 32
TINY_PATCH = 8
TINY_IMAGE_TOKENS = (TINY_IMAGE_SIZE // TINY_PATCH) ** 2  # 16
WIDTH = 32

CORPUS = [
    "You are a helpful language and vision assistant. You are able to understand the visual content "
    "that the user provides, and assist the user with a variety of tasks using natural language.",
    "User: Give a radiology report based on the chest x-ray image, including FINDINGS and IMPRESSION.",
    "Assistant: FINDINGS: The lungs are clear. There is no pleural effusion or pneumothorax. "
    "The cardiomediastinal silhouette is within normal limits. IMPRESSION: No acute cardiopulmonary process.",
    "Expert analysis: Pleural Effusion, Pneumothorax present. Clinical history: cough and fever.",
    "Right pleural effusion. Left lower lobe consolidation. Cardiomegaly. Atelectasis. Edema. Fracture.",
]


def build_tiny_tokenizer() -> Tokenizer:
    """A byte-level BPE with DeepSeek's special tokens, trained on a few report sentences."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = token_decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    return tokenizer


def write_tokenizer(folder: Path) -> Tokenizer:
    tokenizer = build_tiny_tokenizer()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "pad_token": PAD_TOKEN}
    (folder / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    return tokenizer


def tiny_original_config(vocab_size: int) -> dict[str, object]:
    """DeepSeek's config.json shape; the size overrides in ``params`` exist only for tiny test models."""
    return {
        "architectures": ["MultiModalityCausalLM"],
        "model_type": "multi_modality",
        "torch_dtype": "float32",
        "vision_config": {
            "cls": "CLIPVisionTower",
            "model_type": "vision",
            "params": {
                "image_size": TINY_IMAGE_SIZE,
                "model_name": "siglip_large_patch16_384",
                "select_feature": "same",
                "select_layer": -1,
                "width": WIDTH,
                "layers": 2,
                "heads": 4,
                "patch_size": TINY_PATCH,
                "mlp_ratio": 2.0,
            },
        },
        "aligner_config": {
            "cls": "MlpProjector",
            "model_type": "aligner",
            "params": {"depth": 2, "input_dim": WIDTH, "n_embed": WIDTH, "projector_type": "mlp_gelu"},
        },
        "gen_vision_config": {
            "cls": "VQ-16",
            "model_type": "gen_vision",
            "params": {
                "image_token_size": 64,
                "n_embed": 8,
                "base_channels": 32,
                "channel_multiplier": [1, 2],
                "num_res_blocks": 1,
                "z_channels": 32,
            },
        },
        "gen_aligner_config": {
            "cls": "MlpProjector",
            "model_type": "gen_aligner",
            "params": {"depth": 2, "input_dim": 8, "n_embed": WIDTH, "projector_type": "mlp_gelu"},
        },
        "gen_head_config": {
            "cls": "vision_head",
            "model_type": "gen_head",
            "params": {"image_token_embed": WIDTH, "image_token_size": 64, "n_embed": WIDTH},
        },
        "language_config": {
            "hidden_size": WIDTH,
            "intermediate_size": 64,
            "max_position_embeddings": 512,
            "model_type": "llama",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 4,
            "torch_dtype": "float32",
            "vocab_size": vocab_size,
        },
    }


def _vq_names(prefix: str, channels: list[int], *, decoder: bool) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the VQ-16 encoder or decoder, named as ``vq_model.py`` names them."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, out: int, inp: int, k: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (out, inp, k, k), (out,)

    def norm(name: str, c: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (c,), (c,)

    def res(name: str, inp: int, out: int) -> None:
        norm(f"{name}.norm1", inp)
        conv(f"{name}.conv1", out, inp, 3)
        norm(f"{name}.norm2", out)
        conv(f"{name}.conv2", out, out, 3)
        if inp != out:
            conv(f"{name}.nin_shortcut", out, inp, 1)

    def attn(name: str, c: int) -> None:
        norm(f"{name}.norm", c)
        for part in ("q", "k", "v", "proj_out"):
            conv(f"{name}.{part}", c, c, 1)

    base, z, levels = channels[0], 32, len(channels)
    top = channels[-1]
    if not decoder:
        conv(f"{prefix}.conv_in", base, 3, 3)
        block_in = base
        for level, out in enumerate(channels):
            res(f"{prefix}.conv_blocks.{level}.res.0", block_in, out)
            block_in = out
            if level == levels - 1:
                attn(f"{prefix}.conv_blocks.{level}.attn.0", out)
            else:
                conv(f"{prefix}.conv_blocks.{level}.downsample.conv", out, out, 3)
        out_channels = z
    else:
        conv(f"{prefix}.conv_in", top, z, 3)
        block_in = top
        for index, level in enumerate(reversed(range(levels))):
            out = channels[level]
            for j in range(2):
                res(f"{prefix}.conv_blocks.{index}.res.{j}", block_in, out)
                block_in = out
                if level == levels - 1:
                    attn(f"{prefix}.conv_blocks.{index}.attn.{j}", out)
            if level != 0:
                conv(f"{prefix}.conv_blocks.{index}.upsample.conv", out, out, 3)
        out_channels = 3
    res(f"{prefix}.mid.0", top, top)
    attn(f"{prefix}.mid.1", top)
    res(f"{prefix}.mid.2", top, top)
    norm(f"{prefix}.norm_out", block_in)
    conv(f"{prefix}.conv_out", out_channels, block_in, 3)
    return shapes


def original_parameter_shapes(vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of the tiny original checkpoint, by DeepSeek's names."""
    d, grid, hidden = WIDTH, TINY_IMAGE_TOKENS, 64
    shapes: dict[str, tuple[int, ...]] = {
        "vision_model.vision_tower.pos_embed": (1, grid, d),
        "vision_model.vision_tower.patch_embed.proj.weight": (d, 3, TINY_PATCH, TINY_PATCH),
        "vision_model.vision_tower.patch_embed.proj.bias": (d,),
        "vision_model.vision_tower.norm.weight": (d,),
        "vision_model.vision_tower.norm.bias": (d,),
        # timm's attention-pool head: built by the original, unused by the understanding path.
        "vision_model.vision_tower.attn_pool.latent": (1, 1, d),
        "vision_model.vision_tower.attn_pool.q.weight": (d, d),
        "vision_model.vision_tower.attn_pool.kv.weight": (2 * d, d),
        "vision_model.vision_tower.attn_pool.proj.weight": (d, d),
    }
    for i in range(2):
        block = f"vision_model.vision_tower.blocks.{i}"
        for name, shape in {
            "norm1": (d,),
            "norm2": (d,),
            "attn.qkv": (3 * d, d),
            "attn.proj": (d, d),
            "mlp.fc1": (2 * d, d),
            "mlp.fc2": (d, 2 * d),
        }.items():
            shapes[f"{block}.{name}.weight"] = shape
            shapes[f"{block}.{name}.bias"] = (shape[0],)
    for prefix, inp in (("aligner", d), ("gen_aligner", 8)):
        shapes[f"{prefix}.layers.0.weight"], shapes[f"{prefix}.layers.0.bias"] = (d, inp), (d,)
        shapes[f"{prefix}.layers.2.weight"], shapes[f"{prefix}.layers.2.bias"] = (d, d), (d,)
    shapes |= _vq_names("gen_vision_model.encoder", [32, 64], decoder=False)
    shapes |= _vq_names("gen_vision_model.decoder", [32, 64], decoder=True)
    shapes |= {
        "gen_vision_model.quantize.embedding.weight": (64, 8),
        "gen_vision_model.quantize.codebook_used": (65536,),
        "gen_vision_model.quant_conv.weight": (8, 32, 1, 1),
        "gen_vision_model.quant_conv.bias": (8,),
        "gen_vision_model.post_quant_conv.weight": (32, 8, 1, 1),
        "gen_vision_model.post_quant_conv.bias": (32,),
        "gen_head.output_mlp_projector.weight": (d, d),
        "gen_head.output_mlp_projector.bias": (d,),
        "gen_head.vision_head.weight": (64, d),
        "gen_head.vision_head.bias": (64,),
        "gen_embed.weight": (64, 8),
        "language_model.model.embed_tokens.weight": (vocab_size, d),
        "language_model.model.norm.weight": (d,),
        "language_model.lm_head.weight": (vocab_size, d),
    }
    for i in range(2):
        layer = f"language_model.model.layers.{i}"
        for name, shape in {
            "self_attn.q_proj": (d, d),
            "self_attn.k_proj": (d, d),
            "self_attn.v_proj": (d, d),
            "self_attn.o_proj": (d, d),
            "mlp.gate_proj": (hidden, d),
            "mlp.up_proj": (hidden, d),
            "mlp.down_proj": (d, hidden),
        }.items():
            shapes[f"{layer}.{name}.weight"] = shape
        shapes[f"{layer}.input_layernorm.weight"] = (d,)
        shapes[f"{layer}.post_attention_layernorm.weight"] = (d,)
    return shapes


def write_tiny_original(folder: Path, seed: int = 0, *, as_bin: bool = False) -> dict[str, torch.Tensor]:
    """DeepSeek's layout: config, processor files, tokenizer and random weights. Returns the tensors."""
    tokenizer = write_tokenizer(folder)
    vocab_size = tokenizer.get_vocab_size()
    (folder / "config.json").write_text(json.dumps(tiny_original_config(vocab_size), indent=2), encoding="utf-8")
    preprocessor = {
        "image_processor_type": "VLMImageProcessor",
        "image_size": TINY_IMAGE_SIZE,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "min_size": 14,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "processor_class": "VLChatProcessor",
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    processor = {"image_tag": IMAGE_TOKEN, "num_image_tokens": TINY_IMAGE_TOKENS, "sft_format": "deepseek"}
    (folder / "processor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    generator = torch.Generator().manual_seed(seed)
    tensors = {
        name: torch.randn(shape, generator=generator) * 0.2
        for name, shape in original_parameter_shapes(vocab_size).items()
    }
    for name, tensor in tensors.items():
        if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "layernorm.weight")):
            tensor.add_(1.0)
    if as_bin:
        torch.save(tensors, folder / "pytorch_model.bin")
    else:
        save_file(tensors, str(folder / "model.safetensors"))
    return tensors


def write_tiny_janus(folder: Path, seed: int = 0) -> Path:
    """The Hugging Face layout, made the way a user makes it: convert the original layout."""
    from januscxr.models.janus_conversion import convert_checkpoint

    source = folder.parent / f"{folder.name}-original"
    write_tiny_original(source, seed)
    convert_checkpoint(source, folder)
    return folder
