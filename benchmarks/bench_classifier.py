"""Latency and throughput of the bundled classifier vs DenseNet-121 at 224 px, and end to end.

Run:  python benchmarks/bench_classifier.py [--data ../shared/data] [--repeats 50]

Everything is measured in one process, side by side, so the ratios hold on a noisy
machine. DenseNet-121 (the CheXNet / torchxrayvision architecture) comes from MONAI with
random weights: only its speed matters here.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from monai.networks.nets import DenseNet121

import januscxr
from januscxr.models.registry import DEFAULT_CLASSIFIER, load_classifier


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def forward_ms(model: torch.nn.Module, size: int, batch: int, repeats: int) -> float:
    x = torch.randn(batch, 1, size, size)
    model.eval()
    with torch.inference_mode():
        return median_ms(lambda: model(x), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(2)

    classifier = load_classifier(DEFAULT_CLASSIFIER)
    ours = classifier.network  # type: ignore[attr-defined]
    size = classifier.spec.input_size
    densenet = DenseNet121(spatial_dims=2, in_channels=1, out_channels=len(classifier.spec.labels))

    rows = []
    ours_1 = forward_ms(ours, size, 1, args.repeats)
    dense_1 = forward_ms(densenet, 224, 1, args.repeats)
    ours_32 = forward_ms(ours, size, 32, max(5, args.repeats // 10))
    dense_32 = forward_ms(densenet, 224, 32, max(5, args.repeats // 10))
    rows.append(("forward, batch 1 (ms, median)", ours_1, dense_1))
    rows.append(("forward, batch 32 (images/s)", 32e3 / ours_32, 32e3 / dense_32))

    print(f"# januscxr classifier benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, torch {torch.__version__}"
    )
    params_ours = sum(p.numel() for p in ours.parameters())
    params_dense = sum(p.numel() for p in densenet.parameters())
    print(
        f"\n| measure | {DEFAULT_CLASSIFIER} ({size} px, {params_ours / 1e6:.2f} M params) | DenseNet-121 (224 px, {params_dense / 1e6:.2f} M) | ratio |"
    )
    print("|---|---|---|---|")
    for name, a, b in rows:
        ratio = b / a if "ms" in name else a / b
        print(f"| {name} | {a:.1f} | {b:.1f} | {ratio:.1f}x faster |")

    fixtures = args.data / "fixtures" / "dicom"
    if fixtures.is_dir():
        print("\n| end to end `januscxr.read` (median ms) | read | classify + heatmaps | report | total |")
        print("|---|---|---|---|---|")
        for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
            path = fixtures / name
            januscxr.read(path)
            results = [januscxr.read(path) for _ in range(max(5, args.repeats // 5))]
            med = {k: statistics.median(r.timings_ms[k] for r in results) for k in results[0].timings_ms}
            print(
                f"| {name} | {med['read_ms']:.1f} | {med['classify_ms']:.1f} | {med['report_ms']:.2f} | {med['total_ms']:.1f} |"
            )


if __name__ == "__main__":
    main()
