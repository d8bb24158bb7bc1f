"""Reporter fine-tuning throughput: samples/s, answer tokens/s and peak memory of LoRA training steps.

Run:  python benchmarks/bench_train_reporter.py                          (CPU, the tiny test model)
      python benchmarks/bench_train_reporter.py --size janus-pro-1b --device cuda --batch 8 --steps 10
                                                 (a GPU: the Janus-Pro-1B architecture, bfloat16)

Each variant (gradient checkpointing off, then on) runs in its own process, so the peak memory is
its own: peak resident memory on CPU, ``torch.cuda.max_memory_allocated`` on CUDA. A variant
trains ``--warmup`` optimizer steps (not timed), then ``--steps`` timed ones, through
:class:`januscxr.training.reporter_trainer.ReporterTrainer` with the defaults of
``januscxr train reporter`` (LoRA rank 64 on the language model's projections, AdamW), on
synthetic 2000 x 1700 chest images and a ~100-word report each, with the reference prompt
(576 image tokens at Janus-Pro-1B's size). ``janus-pro-1b`` has the real architecture with random
weights (``bench_janus.write_checkpoint``): random weights train as fast as trained ones.
The last line estimates the paper's stage 2 (5,267 images, ``--epochs`` epochs) at that speed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.models.janus_tiny, benchmarks.bench_janus

STAGE2_IMAGES = 5267
REPORT = (
    "FINDINGS: The heart size is mildly enlarged. There is a small right pleural effusion with adjacent "
    "basilar atelectasis. No pneumothorax is seen. The left lung is clear. Pulmonary vascularity is within "
    "normal limits. A right internal jugular central venous catheter terminates in the mid superior vena cava. "
    "Degenerative changes of the thoracic spine are noted. IMPRESSION: 1. Small right pleural effusion with "
    "basilar atelectasis. 2. Mild cardiomegaly. 3. Central venous catheter in appropriate position."
)


def write_data(folder: Path, count: int) -> Path:
    """``count`` synthetic chest PNGs (2000 x 1700) and a manifest pairing each with the report."""
    from benchmarks.bench_janus import chest_image

    lines = ["image,patient_id,report,split"]
    for index in range(count):
        pixels = np.round(chest_image(index).pixels * 255).astype(np.uint8)
        PILImage.fromarray(pixels).save(folder / f"chest{index}.png")
        lines.append(f'chest{index}.png,p{index},"{REPORT}",train')
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "manifest.csv"


def run_variant(args: argparse.Namespace, checkpoint: Path, manifest: Path, *, checkpointing: bool) -> dict[str, Any]:
    from januscxr.models.janus import load_janus
    from januscxr.training.reporter_manifest import read_training_manifest
    from januscxr.training.reporter_trainer import ReporterTrainConfig, ReporterTrainer

    examples = read_training_manifest(manifest).examples
    config = ReporterTrainConfig(
        rank=args.rank,
        alpha=2 * args.rank,
        epochs=1,
        batch_size=args.batch,
        gradient_checkpointing=checkpointing,
        stop_after_steps=args.warmup,
        device=args.device,
        progress=False,
    )
    backend = load_janus(checkpoint, device=args.device, precision="auto")
    with tempfile.TemporaryDirectory() as out:
        trainer = ReporterTrainer(backend, examples, examples[:1], config, Path(out))
        trainer.train()  # warm-up steps, not timed
        if backend.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        seconds, tokens = trainer.state.train_seconds, trainer.state.train_tokens
        config.stop_after_steps = args.warmup + args.steps
        started = time.perf_counter()
        trainer.train()
        if backend.device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
        seconds = trainer.state.train_seconds - seconds
    samples = args.steps * args.batch
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if backend.device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "gradient_checkpointing": checkpointing,
        "samples_per_s": samples / seconds,
        "tokens_per_s": (trainer.state.train_tokens - tokens) / seconds,
        "step_s": seconds / args.steps,
        "wall_s": wall,
        "peak_gb": peak,
        "precision": backend.precision.value,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }


def machine(device: str) -> str:
    from benchmarks.bench_janus import machine as describe

    return describe() if device == "cpu" or torch.cuda.is_available() else device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=["tiny", "janus-pro-1b"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="Epochs of the stage-2 estimate.")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads).")
    parser.add_argument("--variant", choices=["off", "on"], help=argparse.SUPPRESS)  # one child process
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        result = run_variant(
            args, args.workdir / "model", args.workdir / "manifest.csv", checkpointing=args.variant == "on"
        )
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        if args.size == "tiny":
            from tests.models.janus_tiny import write_tiny_janus

            write_tiny_janus(workdir / "model")
        else:
            from benchmarks.bench_janus import write_checkpoint

            write_checkpoint(workdir / "model", args.size)
        write_data(workdir, args.batch * (args.warmup + args.steps))
        rows = []
        for variant in ("off", "on"):
            child = [sys.executable, __file__, *sys.argv[1:], "--variant", variant, "--workdir", str(workdir)]
            output = subprocess.run(child, check=True, capture_output=True, text=True, cwd=REPO).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
    print(
        f"{args.size}, {args.device}, batch {args.batch}, LoRA rank {args.rank}, {args.steps} timed steps; {machine(args.device)}"
    )
    print("| gradient checkpointing | samples/s | tokens/s | s/step | peak memory (GB) | precision |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {'on' if row['gradient_checkpointing'] else 'off'} | {row['samples_per_s']:.2f} | "
            f"{row['tokens_per_s']:.0f} | {row['step_s']:.3f} | {row['peak_gb']:.2f} | {row['precision']} |"
        )
    fastest = max(row["samples_per_s"] for row in rows)
    hours = STAGE2_IMAGES * args.epochs / fastest / 3600
    print(
        f"stage 2 estimate: {STAGE2_IMAGES} images x {args.epochs} epochs at {fastest:.2f} samples/s = {hours:.2f} h "
        f"of training steps (validation and export not included); trainable parameters {rows[0]['trainable_parameters']:,}"
    )


if __name__ == "__main__":
    main()
