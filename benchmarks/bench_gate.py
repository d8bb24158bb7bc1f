"""Measure the chest-radiograph gate: refusals of held-out non-chest images, false refusals of chests.

    python benchmarks/bench_gate.py --data-root ../shared/data

Chest radiographs: the test patients of the gate's split (same seed as training, kept in the
weights' metadata) and the fixtures, never used for training or thresholds. Non-chest images:
only categories that were never generated for training (``januscxr.training.gate.heldout_negatives``).
Prints Markdown tables (counts, rates, Wilson 95% intervals) and the gate's CPU latency.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from januscxr.eval.reader_study import wilson_interval
from januscxr.models.registry import DEFAULT_GATE, WEIGHTS_DIR, get_gate_spec, load_gate
from januscxr.training.gate import heldout_negatives, load_chest_sets
from januscxr.types import Image


def _images(pixels: np.ndarray, name: str) -> list[Image]:
    return [Image(pixels=p.astype(np.float32) / 255.0, source=f"{name}-{i}") for i, p in enumerate(pixels)]


def _row(label: str, refused: int, total: int, distinct: str = "") -> str:
    low, high = wilson_interval(refused, total)
    return f"| {label} | {distinct} | {refused} / {total} | {refused / total:.1%} | {low:.1%} to {high:.1%} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--gate", default=DEFAULT_GATE, help="registered gate id")
    parser.add_argument(
        "--weights-dir", type=Path, default=None, help="folder of the gate's weights (default: the package)"
    )
    parser.add_argument("--cache", type=Path, default=None, help=".npz cache of the decoded chests")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gate = load_gate(args.gate, weights_dir=args.weights_dir)
    spec = get_gate_spec(args.gate)
    with safe_open(str((args.weights_dir or WEIGHTS_DIR) / str(spec.weights)), framework="pt") as handle:
        seed = int((handle.metadata() or {}).get("seed", "0"))
    test = load_chest_sets(args.data_root, seed=seed, cache=args.cache)["test"]
    chest = gate.check(_images(test.pixels, "chest"))
    reasons: Counter[str] = Counter()
    print(f"## {args.gate}: false refusals of held-out chest radiographs (split seed {seed})\n")
    print("| source | refused / images | rate | 95% CI (Wilson) |\n|---|---|---|---|")
    for source in sorted(set(test.sources)):
        refused = [not d.accepted for d, s in zip(chest, test.sources, strict=True) if s == source]
        print(_row(source, sum(refused), len(refused)).replace("|  |", "|", 1))
    print(_row("**all chest**", sum(not d.accepted for d in chest), len(chest)).replace("|  |", "|", 1))
    print("\n## Refusals of non-chest images of categories never trained on\n")
    print("| category | distinct sources | refused / images | rate | 95% CI (Wilson) |\n|---|---|---|---|---|")
    total_refused = total = 0
    for category, items in heldout_negatives(test).items():
        decisions = [d for name, pixels in items for d in gate.check(_images(pixels, name))]
        refused = sum(not d.accepted for d in decisions)
        reasons.update(d.reason.split(" (")[0] for d in decisions if d.reason)
        total_refused, total = total_refused + refused, total + len(decisions)
        print(_row(category, refused, len(decisions), str(len(items))))
    print(_row("**all non-chest**", total_refused, total))
    print("\nReasons given:", json.dumps(dict(reasons.most_common()), indent=1))
    big = Image(pixels=np.random.default_rng(0).random((2048, 2048), dtype=np.float32), source="latency")
    gate.check([big])
    started = time.perf_counter()
    for _ in range(20):
        gate.check([big])
    print(
        f"\nLatency on one CPU thread, 2048x2048 input: {(time.perf_counter() - started) / 20 * 1e3:.1f} ms per image"
    )


if __name__ == "__main__":
    main()
