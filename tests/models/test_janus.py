"""The Janus backend on a tiny random model: loading, token layout, greedy generation, batches, streaming."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from januscxr.errors import ModelError, ModelOutOfMemoryError, WeightsNotFoundError
from januscxr.models.janus import (
    Precision,
    RepetitionGuard,
    StopReason,
    load_janus,
    memory_guard,
    resolve_precision,
)
from januscxr.models.janus_text import repeated_tail
from januscxr.report.prompt import REPORT_REQUEST, SYSTEM_PROMPT, build_prompt
from tests.conftest import random_image
from tests.models.janus_tiny import TINY_IMAGE_TOKENS, write_tiny_original


def test_loads_strictly_with_every_converted_tensor(tiny_janus, tiny_janus_dir):
    stored = load_file(str(tiny_janus_dir / "model.safetensors"))
    state = tiny_janus.model.state_dict()
    assert set(stored) == set(state)
    assert all(torch.equal(stored[name], state[name]) for name in stored)
    assert tiny_janus.num_image_tokens == TINY_IMAGE_TOKENS
    assert tiny_janus.precision is Precision.FLOAT32 and tiny_janus.device.type == "cpu"


def test_save_and_load_round_trip_gives_the_same_answer(tiny_janus, tiny_janus_dir, tmp_path):
    copy = tmp_path / "copy"
    tiny_janus.model.save_pretrained(copy)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json"):
        shutil.copyfile(tiny_janus_dir / name, copy / name)
    reloaded = load_janus(copy, device="cpu", precision="float32")
    prompt, image = build_prompt(), random_image(1)
    first = tiny_janus.generate([prompt], [image], max_new_tokens=12)
    second = reloaded.generate([prompt], [image], max_new_tokens=12)
    assert first == second


def test_prompt_tokens_follow_the_reference_layout(tiny_janus):
    tokenizer = tiny_janus.tokenizer
    ids = tiny_janus.encode_prompt(build_prompt())
    start = ids.index(tokenizer.image_start_id)
    assert ids[0] == tokenizer.bos_id and ids.count(tokenizer.bos_id) == 1
    assert ids[start + 1 : start + 1 + TINY_IMAGE_TOKENS] == [tokenizer.image_id] * TINY_IMAGE_TOKENS
    assert ids[start + 1 + TINY_IMAGE_TOKENS] == tokenizer.image_end_id
    assert ids.count(tokenizer.image_id) == TINY_IMAGE_TOKENS
    assert tokenizer.decode(ids[1:start]) == f"{SYSTEM_PROMPT}\n\nUser: "
    assert tokenizer.decode(ids[start + 2 + TINY_IMAGE_TOKENS :]) == f"\n{REPORT_REQUEST}\n\nAssistant:"
    assert len(ids) == len(tokenizer.encode(build_prompt())) + TINY_IMAGE_TOKENS + 1


def test_pixels_are_square_normalised_and_padded_with_the_mean():
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    processor = JanusImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    wide = random_image(2, shape=(20, 40))
    pixels = processor(
        images=[(wide.pixels[..., None].repeat(3, 2) * 255).round().astype("uint8")], return_tensors="pt"
    )
    values = pixels["pixel_values"]
    assert values.shape == (1, 3, 32, 32)
    # 40 x 20 -> 32 x 16, padded top and bottom with grey 127 -> (127/255 - 0.5) / 0.5
    assert torch.allclose(values[0, :, 0, :], torch.full((3, 32), (127 / 255 - 0.5) / 0.5), atol=1e-6)


def test_greedy_generation_is_deterministic_and_bounded(tiny_janus):
    prompt, image = build_prompt(expert_findings=["Pneumothorax"]), random_image(3)
    first = tiny_janus.generate([prompt], [image], max_new_tokens=10)[0]
    second = tiny_janus.generate([prompt], [image], max_new_tokens=10)[0]
    assert first == second
    assert 0 < len(first.token_ids) <= 10
    assert first.stop_reason in set(StopReason)
    assert tiny_janus.tokenizer.eos_id not in first.token_ids


def test_a_batch_gives_the_same_answers_as_one_by_one(tiny_janus):
    prompts = [
        build_prompt(),
        build_prompt(expert_findings=["Pleural Effusion", "Cardiomegaly"], indication="cough and fever"),
        build_prompt(expert_findings=["Pneumothorax"]),
    ]
    images = [random_image(seed) for seed in (4, 5, 6)]
    together = tiny_janus.generate(prompts, images, max_new_tokens=16)
    apart = [tiny_janus.generate([p], [i], max_new_tokens=16)[0] for p, i in zip(prompts, images, strict=True)]
    assert together == apart
    assert len({len(tiny_janus.encode_prompt(p)) for p in prompts}) == 3  # the batch was really padded


def test_streamed_text_adds_up_to_the_answer(tiny_janus):
    pieces: dict[int, list[str]] = {0: [], 1: []}
    prompts, images = [build_prompt(), build_prompt(expert_findings=["Edema"])], [random_image(7), random_image(8)]
    answers = tiny_janus.generate(prompts, images, max_new_tokens=14, on_text=lambda i, t: pieces[i].append(t))
    for index, answer in enumerate(answers):
        streamed = "".join(pieces[index])
        assert streamed.startswith(answer.text)
        if answer.stop_reason is not StopReason.REPETITION:
            assert streamed == answer.text


def test_repetition_guard_finds_and_cuts_loops():
    loop = [7, 8, 9, 10]
    assert repeated_tail([1, 2, 3, *loop * 4]) == 12
    assert repeated_tail([1, 2, 3, *loop * 6]) == 20
    assert repeated_tail([1, 2, 3, *loop * 3]) == 0
    assert repeated_tail(list(range(60))) == 0
    guard = RepetitionGuard(prompt_length=2)
    ids = torch.tensor([[0, 0, *loop * 4], [0, 0, *range(16)]])
    assert guard(ids, None).tolist() == [True, False]


def test_int8_quantizes_the_linear_layers_and_still_drafts(tiny_janus_dir):
    backend = load_janus(tiny_janus_dir, device="cpu", precision="int8")
    quantized = torch.ao.nn.quantized.dynamic.Linear
    language = backend.model.model.language_model
    assert not [m for m in language.modules() if type(m) is torch.nn.Linear]
    assert isinstance(language.layers[0].mlp.down_proj, quantized)
    assert isinstance(backend.model.model.vision_model.encoder.layers[0].mlp.fc1, quantized)
    assert isinstance(backend.model.lm_head, quantized)
    answer = backend.generate([build_prompt()], [random_image(9)], max_new_tokens=8)[0]
    assert len(answer.token_ids) > 0


def test_precision_choice():
    assert resolve_precision("auto", torch.device("cpu")) is Precision.FLOAT32
    assert resolve_precision("auto", torch.device("cuda")) is Precision.BFLOAT16
    with pytest.raises(ModelError, match="int8 runs on CPU only"):
        resolve_precision("int8", torch.device("cuda"))


def test_out_of_memory_becomes_a_model_error():
    with (
        pytest.raises(ModelOutOfMemoryError, match="out of CPU memory while drafting"),
        memory_guard("drafting", torch.device("cpu")),
    ):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")


def test_missing_and_original_layout_folders_say_what_to_do(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="config.json missing, model.safetensors missing"):
        load_janus(tmp_path / "nowhere")
    original = tmp_path / "original"
    write_tiny_original(original)
    for name in ("model.safetensors",):
        (original / name).rename(original / "keep.bin")
    save_file({}, str(original / "model.safetensors"))
    with pytest.raises(ModelError, match="DeepSeek's original layout; convert it first"):
        load_janus(original)


def test_a_damaged_converted_checkpoint_is_refused(tiny_janus_dir, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_janus_dir, damaged)
    tensors = load_file(str(damaged / "model.safetensors"))
    del tensors["model.language_model.layers.0.self_attn.k_proj.weight"]
    save_file(tensors, str(damaged / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelError, match=r"1 missing: model\.language_model\.layers\.0\.self_attn\.k_proj\.weight"):
        load_janus(damaged)
    assert json.loads((damaged / "januscxr.json").read_text())["generation_modules"] is True
