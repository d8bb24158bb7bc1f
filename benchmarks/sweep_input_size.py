"""Choose the classifier's input size by measurement: validation AUC and forward latency.

Run:  python benchmarks/sweep_input_size.py --manifest manifest.csv --sizes 96 128 160 --epochs 4

Each size trains the same CxrNet for the same number of epochs on the same patient split;
the table gives the best mean validation AUC, pneumonia AUC and the batch-1 forward time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from januscxr.models.cxrnet import CxrNet
from januscxr.training.trainer import TrainConfig, train_classifier


def forward_ms(size: int, repeats: int = 50) -> float:
    model = CxrNet(5).eval()
    x = torch.randn(1, 1, size, size)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 5):
            start = time.perf_counter()
            model(x)
            if i >= 5:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/sweep"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| input px | best mean valid AUC | pneumonia AUC | seconds/epoch | forward batch 1 (ms) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        config = TrainConfig(
            str(args.manifest), str(args.out / str(size)), input_size=size, max_epochs=args.epochs, patience=args.epochs
        )
        start = time.perf_counter()
        trained = train_classifier(config)
        elapsed = (time.perf_counter() - start) / args.epochs
        best = max(trained.history, key=lambda h: h["mean_auc"])
        print(f"| {size} | {best['mean_auc']:.3f} | {best['Pneumonia']:.3f} | {elapsed:.0f} | {forward_ms(size):.1f} |")


if __name__ == "__main__":
    main()
