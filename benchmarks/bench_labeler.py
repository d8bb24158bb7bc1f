"""Reports per second of the rule-based labeler on one CPU core.

Run:  python benchmarks/bench_labeler.py [--data ../shared/data] [--repeats 5]

Labels the FINDINGS + IMPRESSION of every coded IU report (``iu_xray/reports.csv``), or,
without the data, a built-in set of synthetic reports. The process pins itself to one core
(Linux); the median of the repeats is reported as wall-clock and as CPU-time throughput,
the second being the steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from januscxr.labeler import label_report
from januscxr.labeler.validation import REPORTS_CSV, read_coded_reports

# Written for this benchmark, in the style of chest radiograph reports.
SYNTHETIC = [
    "The heart size and mediastinal contours are within normal limits. The lungs are clear. No pneumothorax or "
    "pleural effusion. No acute bony abnormality. No acute cardiopulmonary disease.",
    "Mild cardiomegaly. Small bilateral pleural effusions with bibasilar atelectasis. Pulmonary vascular congestion. "
    "Findings suggestive of mild interstitial edema.",
    "Left basilar opacity may represent atelectasis versus pneumonia. Cannot exclude a small left effusion. Right "
    "internal jugular catheter tip in the SVC. Median sternotomy wires.",
    "Stable 8 mm nodule in the right upper lobe. Healed left rib fractures. Calcified granuloma. Degenerative "
    "changes of the thoracic spine. No focal consolidation.",
    "XXXX right pneumothorax, decreased in size. No XXXX effusion. The XXXX are intact. Negative chest x-XXXX.",
]


def load_texts(data: Path) -> tuple[list[str], str]:
    """The coded IU reports' text, or the synthetic set when the data is absent."""
    path = data / REPORTS_CSV
    if path.is_file():
        return [r.text for r in read_coded_reports(path).reports], f"{path} (coded reports)"
    return SYNTHETIC * 600, "synthetic reports (IU data not found)"


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def pin_to_one_core() -> str:
    """Restrict this process to its first allowed core; say which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pinning = pin_to_one_core()
    texts, source = load_texts(args.data)
    for text in texts[:200]:  # warm up
        label_report(text)
    wall_rates, cpu_rates = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            label_report(text)
        wall_rates.append(len(texts) / (time.perf_counter() - wall))
        cpu_rates.append(len(texts) / (time.process_time() - cpu))
    characters = sum(map(len, texts)) / len(texts)
    print(f"labeler benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"process: {pinning}; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else pinning)
    print(f"input: {len(texts)} {source}, {characters:.0f} characters on average")
    print(
        f"reports/s (median of {args.repeats}): {statistics.median(wall_rates):.0f} wall-clock, "
        f"{statistics.median(cpu_rates):.0f} per CPU-second"
    )


if __name__ == "__main__":
    main()
