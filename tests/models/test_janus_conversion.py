"""DeepSeek's original layout -> Hugging Face layout: every tensor mapped, damage refused."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from januscxr.errors import ModelError
from januscxr.models.janus_conversion import (
    PUBLISHED_CONFIGS,
    PUBLISHED_TOKEN_IDS,
    convert_checkpoint,
    expected_shapes,
    janus_config,
    target_name,
)
from tests.models.janus_tiny import TINY_IMAGE_TOKENS, WIDTH, write_tiny_original


def test_every_original_tensor_lands_where_transformers_expects_it(tmp_path):
    original = write_tiny_original(tmp_path / "src")
    summary = convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    converted = load_file(str(tmp_path / "dst" / "model.safetensors"))
    config = json.loads((tmp_path / "dst" / "config.json").read_text())
    assert config["model_type"] == "janus" and config["tie_word_embeddings"] is False
    assert summary.num_image_tokens == TINY_IMAGE_TOKENS and summary.generation_modules
    # 2 attn-pool projections + latent + codebook counter are left out on purpose
    assert summary.dropped == 5 and summary.tensors == len(converted)
    assert summary.parameters == sum(t.numel() for t in converted.values())

    qkv = original["vision_model.vision_tower.blocks.1.attn.qkv.weight"]
    layer = "model.vision_model.encoder.layers.1.self_attn"
    for index, part in enumerate(("q_proj", "k_proj", "v_proj")):
        assert torch.equal(converted[f"{layer}.{part}.weight"], qkv[index * WIDTH : (index + 1) * WIDTH])
    position = converted["model.vision_model.embeddings.position_embedding.weight"]
    assert position.shape == (TINY_IMAGE_TOKENS, WIDTH)
    assert torch.equal(position, original["vision_model.vision_tower.pos_embed"][0])
    assert torch.equal(converted["lm_head.weight"], original["language_model.lm_head.weight"])
    assert not torch.equal(converted["lm_head.weight"], converted["model.language_model.embed_tokens.weight"])
    assert torch.equal(converted["model.aligner.hidden_layers.0.weight"], original["aligner.layers.2.weight"])
    assert torch.equal(
        converted["model.vqmodel.decoder.up.0.block.1.conv1.weight"],
        original["gen_vision_model.decoder.conv_blocks.0.res.1.conv1.weight"],
    )
    assert (tmp_path / "dst" / "tokenizer.json").read_bytes() == (tmp_path / "src" / "tokenizer.json").read_bytes()
    processor = json.loads((tmp_path / "dst" / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": 32, "width": 32} and processor["image_mean"] == [0.5, 0.5, 0.5]


def test_names_follow_the_mapping():
    assert target_name("vision_model.vision_tower.blocks.3.norm2.bias") == (
        "model.vision_model.encoder.layers.3.layer_norm2.bias"
    )
    assert (
        target_name("gen_vision_model.encoder.mid.1.proj_out.weight")
        == "model.vqmodel.encoder.mid.attn_1.proj_out.weight"
    )
    assert target_name("gen_head.output_mlp_projector.bias") == "model.generation_head.proj_out.bias"
    assert target_name("language_model.model.layers.0.mlp.up_proj.weight") == (
        "model.language_model.layers.0.mlp.up_proj.weight"
    )
    assert target_name("aligner.layers.1.weight") is None  # the GELU has no weights
    assert target_name("something.else") is None


def test_bin_shards_convert_too(tmp_path):
    write_tiny_original(tmp_path / "src", as_bin=True)
    assert convert_checkpoint(tmp_path / "src", tmp_path / "dst").tensors > 200


def test_generation_modules_can_be_dropped(tmp_path):
    write_tiny_original(tmp_path / "src")
    summary = convert_checkpoint(tmp_path / "src", tmp_path / "dst", keep_generation=False)
    names = load_file(str(tmp_path / "dst" / "model.safetensors")).keys()
    assert not summary.generation_modules
    assert not [n for n in names if n.startswith(("model.vqmodel.", "model.generation_"))]
    assert json.loads((tmp_path / "dst" / "januscxr.json").read_text())["generation_modules"] is False


def test_damaged_checkpoint_is_refused_with_what_is_wrong(tmp_path):
    tensors = write_tiny_original(tmp_path / "src")
    del tensors["language_model.model.layers.1.mlp.down_proj.weight"]
    tensors["vision_model.vision_tower.blocks.0.attn.qkv_extra.weight"] = torch.zeros(3)
    tensors["language_model.model.norm.weight"] = torch.zeros(WIDTH + 1)
    save_file(tensors, str(tmp_path / "src" / "model.safetensors"))
    with pytest.raises(ModelError) as caught:
        convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    message = str(caught.value)
    assert "refusing a partial load" in message
    assert "1 missing: model.language_model.layers.1.mlp.down_proj.weight" in message
    assert "1 unexpected: vision_model.vision_tower.blocks.0.attn.qkv_extra.weight" in message
    assert "model.language_model.norm.weight [33] (expected [32])" in message
    assert not (tmp_path / "dst" / "model.safetensors").exists()


def test_truncated_weights_file_is_refused(tmp_path):
    write_tiny_original(tmp_path / "src")
    weights = tmp_path / "src" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ModelError, match="damaged or incomplete"):
        convert_checkpoint(tmp_path / "src", tmp_path / "dst")


def test_a_hugging_face_config_is_not_taken_for_the_original(tmp_path):
    write_tiny_original(tmp_path / "src")
    (tmp_path / "src" / "config.json").write_text(json.dumps({"model_type": "janus"}))
    with pytest.raises(ModelError, match="expected 'multi_modality'"):
        convert_checkpoint(tmp_path / "src", tmp_path / "dst")


def test_the_published_1b_config_gives_576_image_tokens_and_the_real_sizes():
    config = janus_config(PUBLISHED_CONFIGS["janus-pro-1b"], token_ids=PUBLISHED_TOKEN_IDS)
    assert config.vision_config.num_image_tokens == 576 == (384 // 16) ** 2
    assert (config.vision_config.hidden_size, config.vision_config.num_hidden_layers) == (1024, 24)
    assert config.text_config.hidden_size == 2048 and config.text_config.num_hidden_layers == 24
    assert config.text_config.vocab_size == 102400 and config.image_token_id == 100581
    assert config.vq_config.channel_multiplier == [1, 1, 2, 2, 4] and config.vq_config.num_embeddings == 16384
    shapes = expected_shapes(config)
    assert shapes["model.vision_model.embeddings.position_embedding.weight"] == (576, 1024)
    assert shapes["lm_head.weight"] == (102400, 2048)
    language = sum(torch.Size(s).numel() for n, s in shapes.items() if n.startswith("model.language_model."))
    assert 1.3e9 < language < 1.5e9
