"""Janus-Pro-1B-sized reporter speed: load, image encoding, prefill, decode, a 150-token report, memory.

Run:  python benchmarks/bench_janus.py [--paths transformers-float32,float32,int8] [--tokens 150] [--rounds 3]
      python benchmarks/bench_janus.py --device cuda --paths bfloat16 --batch 1 8      (on a GPU)

The model has the real Janus-Pro-1B architecture -- sizes from DeepSeek's published config.json
through our converter's ``janus_config`` -- with random weights written once as bfloat16
safetensors (as the published checkpoint is stored), a synthetic tokenizer with the DeepSeek
special-token ids, and the reference prompt (576 image tokens). Each precision path runs in its
own process, one after the other, so peak memory is per path; the table prints side by side.
Random weights decode as fast as trained ones; the 150 tokens are forced (no early stop).
``transformers-float32`` is the baseline: transformers' own generation (its growing cache and SDPA
attention) in float32; ``float32`` and ``int8`` are januscxr's CPU paths (preallocated cache,
decode attention; int8 adds quantized weights and the stacked q/k/v and gate/up products).
``--rounds N`` runs every path N times, interleaved, and the table shows each path's median round.

Last, the tiny test model answers the same prompts greedily in float32 and in each faster path,
and the agreement of the generated tokens is printed: the faster path's numerical cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.models.janus_tiny (the parity check)

from januscxr.models.janus import attention_kernels, load_janus  # noqa: E402
from januscxr.models.janus_conversion import (  # noqa: E402
    LAYOUT_FILE,
    PUBLISHED_CONFIGS,
    PUBLISHED_TOKEN_IDS,
    expected_shapes,
    janus_config,
)
from januscxr.models.janus_decoding import preallocated_cache  # noqa: E402
from januscxr.models.janus_text import (  # noqa: E402
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_END_TOKEN,
    IMAGE_START_TOKEN,
    IMAGE_TOKEN,
    PAD_TOKEN,
)
from januscxr.report.prompt import build_prompt  # noqa: E402
from januscxr.types import Image  # noqa: E402

PROMPT = build_prompt(expert_findings=["Pleural Effusion", "Pneumothorax"])


def write_checkpoint(folder: Path, size: str) -> None:
    """The real architecture, random bfloat16 weights, a synthetic tokenizer with DeepSeek's special ids."""
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    if size == "tiny":  # a smoke test of this script, not a measurement
        from tests.models.janus_tiny import tiny_original_config

        original = tiny_original_config(vocab_size=102400)
    else:
        original = PUBLISHED_CONFIGS[size]
    config = janus_config(original, token_ids=PUBLISHED_TOKEN_IDS)
    config.dtype = torch.bfloat16
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name, shape in expected_shapes(config).items():
        if name.endswith(("norm.weight", "layernorm.weight", "norm1.weight", "norm2.weight")):
            tensors[name] = torch.ones(shape, dtype=torch.bfloat16)
        else:
            tensors[name] = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    config.save_pretrained(folder)
    special = {BOS_TOKEN: 100000, EOS_TOKEN: 100001, PAD_TOKEN: 100015, IMAGE_TOKEN: 100581}
    special |= {IMAGE_START_TOKEN: 100016, IMAGE_END_TOKEN: 100593, "[UNK]": 3}
    vocab = {f"w{i}": i for i in range(config.text_config.vocab_size)}
    for token, index in special.items():
        vocab.pop(f"w{index}")
        vocab[token] = index
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(list(special))
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": True}), encoding="utf-8")
    side = int(config.vision_config.image_size)
    JanusImageProcessorPil(
        size={"height": side, "width": side}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(folder)
    (folder / LAYOUT_FILE).write_text(json.dumps({"generation_modules": True}), encoding="utf-8")


def chest_image(seed: int = 0) -> Image:
    """A 2000 x 1700 synthetic frontal chest (its content does not change the speed)."""
    y, x = np.mgrid[0:2000, 0:1700].astype(np.float32)
    lungs = np.exp(-(((x - 500) / 240) ** 2 + ((y - 1000) / 600) ** 2)) + np.exp(
        -(((x - 1200) / 240) ** 2 + ((y - 1000) / 600) ** 2)
    )
    noise = np.random.default_rng(seed).normal(0, 0.02, lungs.shape).astype(np.float32)
    return Image(pixels=np.clip(0.8 - 0.6 * lungs + noise, 0, 1).astype(np.float32), source="synthetic")


class Clock:
    """A ``generate`` streamer that timestamps the prompt and every generated step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value: Any) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def memory_read_gbs(device: torch.device) -> float | None:
    """The host's memory read speed right now (sum over 512 MiB, median of 3): decode is bound by it."""
    if device.type != "cpu":
        return None
    values = torch.ones(2**27)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        values.sum()
        times.append(time.perf_counter() - start)
    return float(values.numel() * 4 / sorted(times)[1] / 1e9)


def run_path(checkpoint: Path, precision: str, *, device: str, tokens: int, batch: int) -> dict[str, Any]:
    """One precision path, measured in this process."""
    from transformers import GenerationConfig  # imported before the clock starts: load_s is the load alone

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    plain = precision.startswith("transformers-")
    start = time.perf_counter()
    backend = load_janus(checkpoint, device=device, precision=precision.removeprefix("transformers-"))
    if plain:  # transformers' own attention and (below) its own cache
        backend.model.model.language_model.config._attn_implementation = "sdpa"
    sync()
    load_s = time.perf_counter() - start
    images = [chest_image(i) for i in range(batch)]
    start = time.perf_counter()
    pixels = backend.pixel_values(images)
    preprocess_s = time.perf_counter() - start
    with torch.inference_mode(), attention_kernels(backend.device):
        backend.model.model.get_image_features(pixel_values=pixels[:1])  # first-call overheads
        sync()
        start = time.perf_counter()
        backend.model.model.get_image_features(pixel_values=pixels)
        sync()
        encode_s = time.perf_counter() - start
    input_ids, mask = backend.batch_inputs([PROMPT] * batch)
    config = GenerationConfig(
        max_new_tokens=tokens,
        min_new_tokens=tokens,
        do_sample=False,
        use_cache=True,
        pad_token_id=backend.tokenizer.eos_id,
    )
    clock = Clock()
    read_before = memory_read_gbs(backend.device)
    with torch.inference_mode(), attention_kernels(backend.device):
        start = time.perf_counter()
        cache = (
            {}
            if plain
            else {"cache": preallocated_cache(backend.model.config.text_config, input_ids.shape[1] + tokens)}
        )
        out = backend.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            pixel_values=pixels,
            generation_config=config,
            streamer=clock,
            **cache,
        )
        sync()
        total_s = time.perf_counter() - start
    read_after = memory_read_gbs(backend.device)
    first, last = clock.times[1], clock.times[-1]
    generated = int(out.shape[1] - input_ids.shape[1])
    return {
        "precision": precision,
        "device": str(backend.device),
        "batch": batch,
        "prompt_tokens": int(input_ids.shape[1]),
        "generated_tokens": generated,
        "load_s": load_s,
        "preprocess_s": preprocess_s,
        "image_encoding_s": encode_s,
        "prefill_s": first - start,  # image encoding + the language model over the prompt
        "decode_tokens_per_s": batch * (generated - 1) / (last - first),
        "report_s": total_s,
        "peak_memory_gb": peak_memory_gb(backend.device),
        "memory_read_gbs": [read_before, read_after],  # before and after the report
    }


def first_step_logits(backend: Any, prompts: list[str], images: list[Image]) -> torch.Tensor:
    input_ids, mask = backend.batch_inputs(prompts)
    with torch.inference_mode():
        out = backend.model(input_ids=input_ids, attention_mask=mask, pixel_values=backend.pixel_values(images))
    return out.logits[:, -1].float()  # (B, vocab)


def tiny_parity(paths: list[str], tokens: int = 32, prompts: int = 8) -> dict[str, Any]:
    """Greedy tokens of the tiny test model in float32 vs each faster CPU path, and first-step logits."""
    import tempfile

    from tests.models.janus_tiny import write_tiny_janus

    folder = write_tiny_janus(Path(tempfile.mkdtemp()) / "tiny")
    findings = [[], ["Pneumothorax"], ["Pleural Effusion", "Edema"], ["Cardiomegaly"]]
    cases = [build_prompt(expert_findings=findings[i % 4]) for i in range(prompts)]
    images = [
        Image(pixels=np.random.default_rng(i).random((64, 56)).astype(np.float32), source=str(i))
        for i in range(prompts)
    ]
    reference = load_janus(folder, device="cpu", precision="float32")
    expected = [
        reference.generate([p], [i], max_new_tokens=tokens)[0].token_ids for p, i in zip(cases, images, strict=True)
    ]
    logits = first_step_logits(reference, cases, images)
    result: dict[str, Any] = {}
    for path in paths:
        if path.endswith("float32"):
            continue
        backend = load_janus(folder, device="cpu", precision=path)
        got = [
            backend.generate([p], [i], max_new_tokens=tokens)[0].token_ids for p, i in zip(cases, images, strict=True)
        ]
        same = sum(g == e for g, e in zip(got, expected, strict=True))
        diverge = [
            next((k for k, (a, b) in enumerate(zip(g, e, strict=False)) if a != b), min(len(g), len(e)))
            for g, e in zip(got, expected, strict=True)
            if g != e
        ]
        other = first_step_logits(backend, cases, images)
        margin = logits.topk(2).values
        result[path] = {
            "identical": same,
            "of": prompts,
            "first_divergence_at": diverge,
            "logit_error_over_std": float(((other - logits).abs().max(dim=1).values / logits.std(dim=1)).mean()),
            "top1_margin_over_std": float(((margin[:, 0] - margin[:, 1]) / logits.std(dim=1)).mean()),
            "first_token_agreement": float((other.argmax(1) == logits.argmax(1)).float().mean()),
        }
    return result


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        cpu = model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per path and batch, the round with the median report time, with every round's time beside it."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["precision"], row["batch"]), []).append(row)
    chosen = []
    for group in groups.values():
        ordered = sorted(group, key=lambda r: r["report_s"])
        chosen.append(ordered[(len(ordered) - 1) // 2] | {"rounds_report_s": [r["report_s"] for r in group]})
    return chosen


def read_speed(row: dict[str, Any]) -> str:
    speeds = [s for s in row["memory_read_gbs"] if s is not None]  # None on a GPU
    return " / ".join(f"{s:.1f}" for s in speeds) or "--"


def table(rows: list[dict[str, Any]]) -> str:
    base = next((r for r in rows if r["precision"] in ("transformers-float32", "float32") and r["batch"] == 1), rows[0])
    lines = [
        "| path | batch | load s | image encoding s | prefill s | decode tok/s | report s (median) | every round s "
        "| speed-up | peak memory GiB | memory read GB/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        rounds = ", ".join(f"{t:.1f}" for t in r["rounds_report_s"])
        lines.append(
            f"| {r['precision']} ({r['device']}) | {r['batch']} | {r['load_s']:.1f} | {r['image_encoding_s']:.2f} | "
            f"{r['prefill_s']:.2f} | {r['decode_tokens_per_s']:.2f} | {r['report_s']:.1f} | {rounds} | "
            f"{base['report_s'] / r['report_s']:.2f}x | {r['peak_memory_gb']:.1f} | {read_speed(r)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--paths", default="transformers-float32,float32,int8", help="Comma-separated paths, run in this order."
    )
    parser.add_argument("--tokens", type=int, default=150, help="Tokens generated per report.")
    parser.add_argument("--rounds", type=int, default=1, help="Run every path this many times, interleaved.")
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="Studies per batch (several: one run each).")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="janus-pro-1b", choices=[*sorted(PUBLISHED_CONFIGS), "tiny"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/januscxr-bench-janus"))
    parser.add_argument("--out", type=Path, help="Write every number as JSON here.")
    parser.add_argument("--skip-parity", action="store_true", help="Skip the tiny-model greedy comparison.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    checkpoint = args.workdir / args.size
    if args.worker:
        print(
            json.dumps(run_path(checkpoint, args.worker, device=args.device, tokens=args.tokens, batch=args.batch[0]))
        )
        return
    if not (checkpoint / "model.safetensors").is_file():
        start = time.perf_counter()
        write_checkpoint(checkpoint, args.size)
        print(f"wrote a random {args.size} checkpoint in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    rows = []
    runs = [(path, batch) for _ in range(args.rounds) for path in args.paths.split(",") for batch in args.batch]
    for path, batch in runs:  # rounds interleave the paths: slow drifts of the machine hit every path
        command = [
            sys.executable,
            __file__,
            "--worker",
            path,
            "--device",
            args.device,
            "--tokens",
            str(args.tokens),
        ]
        command += ["--batch", str(batch), "--size", args.size, "--workdir", str(args.workdir)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(f"{path} batch {batch}: {json.dumps(rows[-1])}", file=sys.stderr)
        if args.out:  # partial results survive a timeout
            args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    parity = {} if args.skip_parity or args.device != "cpu" else tiny_parity(args.paths.split(","))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{args.size} architecture, random weights; {machine()}; {stamp}")
    print(f"command: python benchmarks/bench_janus.py {' '.join(sys.argv[1:])}")
    print(table(medians(rows)))
    for path, agreement in parity.items():
        print(
            f"tiny model, {path} vs float32 greedy: {agreement['identical']}/{agreement['of']} answers identical, "
            f"first divergence at tokens {agreement['first_divergence_at']}; first-step logits: largest error "
            f"{agreement['logit_error_over_std']:.3f} std, top-1 margin {agreement['top1_margin_over_std']:.3f} std, "
            f"top-1 agreement {agreement['first_token_agreement']:.0%}"
        )
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "date": stamp, "rows": rows, "parity": parity}, indent=2))


if __name__ == "__main__":
    main()
