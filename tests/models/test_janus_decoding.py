"""The faster decoding pieces give transformers' own answers: cache, decode attention, fused MLP."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from transformers import GenerationConfig

from januscxr.models.janus import int8_linear, load_janus, quantize_int8
from januscxr.models.janus_decoding import (
    CPU_DECODE_ATTENTION,
    GateUpMLP,
    PreallocatedLayer,
    ProjectionPart,
    StackedProjection,
    cpu_decode_attention,
    preallocated_cache,
    stack_linears,
)
from januscxr.report.prompt import build_prompt
from tests.conftest import random_image


def _greedy(backend, prompts, images, *, tokens: int, cache=None, attention: str | None = None):
    language = backend.model.model.language_model.config
    before = language._attn_implementation
    if attention:
        language._attn_implementation = attention
    input_ids, mask = backend.batch_inputs(prompts)
    config = GenerationConfig(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=0)
    try:
        with torch.inference_mode():
            extra = {} if cache is None else {"cache": cache(input_ids.shape[1])}
            return backend.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                pixel_values=backend.pixel_values(images),
                generation_config=config,
                **extra,
            )
    finally:
        language._attn_implementation = before


def test_the_cpu_backend_uses_the_decode_attention(tiny_janus):
    assert tiny_janus.model.model.language_model.config._attn_implementation == CPU_DECODE_ATTENTION
    assert tiny_janus.model.model.vision_model.config._attn_implementation != CPU_DECODE_ATTENTION


def test_preallocated_cache_and_decode_attention_give_transformers_greedy_tokens(tiny_janus):
    prompts = [build_prompt(), build_prompt(expert_findings=["Pneumothorax"], indication="chest pain")]
    images = [random_image(11), random_image(12)]  # different prompt lengths: the batch is left-padded
    plain = _greedy(tiny_janus, prompts, images, tokens=24, attention="sdpa")
    config = tiny_janus.model.config.text_config
    ours = _greedy(tiny_janus, prompts, images, tokens=24, cache=lambda width: preallocated_cache(config, width + 24))
    assert torch.equal(plain, ours)
    short = _greedy(tiny_janus, prompts, images, tokens=24, cache=lambda width: preallocated_cache(config, width + 3))
    assert torch.equal(plain, short)  # a cache planned too small grows


def test_preallocated_layer_writes_in_place_and_grows():
    layer = PreallocatedLayer(capacity=4)
    first = torch.randn(2, 3, 3, 5)
    keys, values = layer.update(first, -first)
    assert torch.equal(keys, first) and torch.equal(values, -first)
    buffer = layer._keys
    step = torch.randn(2, 3, 1, 5)
    keys, _ = layer.update(step, step)
    assert layer._keys is buffer and keys.shape[-2] == 4  # written into the same buffer
    keys, values = layer.update(step * 2, step * 2)  # past the capacity
    assert keys.shape[-2] == 5 and torch.equal(keys[:, :, :3], first) and torch.equal(values[:, :, 4:], step * 2)


@pytest.mark.parametrize("masked", [False, True])
def test_decode_attention_matches_sdpa(masked):
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, 4, 1, 16, generator=generator)
    key, value = torch.randn(2, 4, 30, 16, generator=generator), torch.randn(2, 4, 30, 16, generator=generator)
    mask = None
    if masked:
        mask = torch.ones(2, 1, 1, 30, dtype=torch.bool)
        mask[0, ..., :7] = False  # a left-padded row
    module = torch.nn.Module()
    ours, _ = cpu_decode_attention(module, query, key, value, mask, scaling=0.25)
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=0.25)
    assert ours.shape == (2, 1, 4, 16)
    assert torch.allclose(ours, expected.transpose(1, 2), atol=1e-6)


def test_stacked_projections_give_each_layer_its_own_answer():
    linears = [torch.nn.Linear(8, n) for n in (8, 4, 4)]
    stack = StackedProjection(linears)
    parts = [ProjectionPart(stack, i) for i in range(3)]
    first, second = torch.randn(2, 8), torch.randn(5, 8)
    for hidden in (first, second, first):
        got = [part(hidden) for part in parts]
        assert all(torch.allclose(g, linear(hidden), atol=1e-6) for g, linear in zip(got, linears, strict=True))
    assert stack._latest is None  # nothing held once every part has its slice
    assert torch.allclose(parts[2](second), linears[2](second), atol=1e-6)  # out of order: computed afresh
    assert torch.allclose(parts[0](first), linears[0](first), atol=1e-6)


def _torch_ao_int8(model):
    """The reference: PyTorch's own dynamic quantization of every Linear that runs for text."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        for module in (model.model.vision_model, model.model.aligner, model.model.language_model):
            quantize_dynamic(module, spec, inplace=True)
        model.lm_head = quantize_dynamic(torch.nn.Sequential(model.lm_head), spec)[0]
    return model


def test_int8_stacked_and_packed_once_gives_torch_ao_numbers(tiny_janus):
    model = copy.deepcopy(tiny_janus.model)
    mlp = model.model.language_model.layers[0].mlp
    hidden = torch.randn(3, 7, mlp.gate_proj.in_features)
    assert torch.allclose(GateUpMLP(mlp)(hidden), mlp(hidden), atol=1e-6)  # float stacking
    input_ids, mask = tiny_janus.batch_inputs([build_prompt(), build_prompt(expert_findings=["Edema"])])
    pixels = tiny_janus.pixel_values([random_image(14), random_image(15)])
    model = model.to(torch.bfloat16)  # as published checkpoints are stored, and loaded for int8
    reference = _torch_ao_int8(copy.deepcopy(model).float())
    ours = quantize_int8(model)
    assert isinstance(ours.model.language_model.layers[0].self_attn.k_proj, ProjectionPart)
    text_path = (ours.model.vision_model, ours.model.aligner, ours.model.language_model, ours.lm_head)
    assert not [m for part in text_path for m in part.modules() if type(m) is torch.nn.Linear]
    assert {p.dtype for p in ours.parameters()} == {torch.float32}  # what is not quantized is float32
    with torch.inference_mode():
        a = reference(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
        b = ours(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
    assert torch.equal(a, b)  # one activation scale, per-channel weights: the same numbers


def test_stacked_linears_quantize_with_biases_and_shapes():
    linears = [torch.nn.Linear(16, 8), torch.nn.Linear(16, 4, bias=False)]
    stacked = stack_linears(linears)
    hidden = torch.randn(5, 16)
    expected = torch.cat([linears[0](hidden), linears[1](hidden)], dim=-1)
    assert torch.allclose(stacked(hidden), expected, atol=1e-6)  # a missing bias is zero
    module = int8_linear(stacked)
    got = module(hidden)
    assert got.shape == (5, 12) and module.in_features == 16 and module.out_features == 12
    assert torch.allclose(got, expected, atol=0.05)  # int8 error only


def test_int8_backend_fuses_and_drafts_like_before(tiny_janus_dir):
    backend = load_janus(tiny_janus_dir, device="cpu", precision="int8")
    assert isinstance(backend.model.model.language_model.layers[0].mlp, GateUpMLP)
    answer = backend.generate([build_prompt()], [random_image(13)], max_new_tokens=8)[0]
    assert len(answer.token_ids) > 0


def _copy_checkpoint(source, destination, dtype):
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, destination)
    tensors = load_file(str(source / "model.safetensors"))
    save_file({k: v.to(dtype) for k, v in tensors.items()}, str(destination / "model.safetensors"))
    config = json.loads((destination / "config.json").read_text())
    config["dtype"] = str(dtype).removeprefix("torch.")
    (destination / "config.json").write_text(json.dumps(config))
    return destination


def test_int8_from_a_bfloat16_checkpoint_equals_int8_from_its_float32_copy(tiny_janus_dir, tmp_path):
    """int8 loads the checkpoint's own bfloat16 and upcasts layer by layer: same model as loading float32."""
    bf16 = _copy_checkpoint(tiny_janus_dir, tmp_path / "bf16", torch.bfloat16)
    upcast = _copy_checkpoint(bf16, tmp_path / "fp32", torch.float32)
    from_bf16 = load_janus(bf16, device="cpu", precision="int8")
    from_fp32 = load_janus(upcast, device="cpu", precision="int8")
    buffers = dict(from_fp32.model.named_buffers())
    assert {name: b.dtype for name, b in from_bf16.model.named_buffers()} == {n: b.dtype for n, b in buffers.items()}
    assert all(torch.equal(b, buffers[name]) for name, b in from_bf16.model.named_buffers())
    prompts, images = [build_prompt(), build_prompt(expert_findings=["Edema"])], [random_image(3), random_image(4)]
    expected = from_fp32.generate(prompts, images, max_new_tokens=12)
    assert from_bf16.generate(prompts, images, max_new_tokens=12) == expected
