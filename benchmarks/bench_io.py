"""Seconds per read of JPEG 2000 DICOM and JPEG radiographs: full decode versus reduced decode.

Run:  python benchmarks/bench_io.py [--data ../shared/data] [--repeats 5]

Reads the shared 1955 x 1841 JPEG 2000 lossless CR (``fixtures/dicom/RG1_J2KR.dcm``) and two
larger images written here from it: the same radiograph upsampled to 4399 x 4142 (the size of a
43 cm flat panel at 0.1 mm) as JPEG 2000 lossless DICOM and as an 8-bit JPEG. Each is read with
``max_side_px=None`` (a full decode, what ``read_image`` did before the limit existed), with the
default ``DEFAULT_MAX_SIDE_PX`` and with 960 px. CPU time per read is the steadier number on a
shared machine; the process pins itself to one core (Linux). The median of the repeats is shown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image as PILImage
from pydicom.uid import JPEG2000Lossless

from januscxr.io import DEFAULT_MAX_SIDE_PX, read_image

FIXTURE = Path("fixtures") / "dicom" / "RG1_J2KR.dcm"
UPSAMPLE = 2.25  # 1955 px -> 4399 px


def write_large_copies(source: Path, folder: Path) -> list[Path]:
    """The fixture upsampled to a 43 cm flat panel's 4300 px, as JPEG 2000 lossless DICOM and as 8-bit JPEG."""
    dataset = pydicom.dcmread(source)
    stored = _upsample(dataset.pixel_array)
    dataset.Rows, dataset.Columns = stored.shape
    dataset.compress(JPEG2000Lossless, stored)
    dicom_path = folder / "large_j2k.dcm"
    dataset.save_as(dicom_path, enforce_file_format=True)
    jpeg_path = folder / "large.jpg"
    gray = read_image(source, max_side_px=None).pixels
    PILImage.fromarray(_upsample(np.uint8(gray * 255.0 + 0.5))).save(jpeg_path, quality=92)
    return [dicom_path, jpeg_path]


def _upsample(pixels: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upsampling by UPSAMPLE (H, W) -> (UPSAMPLE * H, UPSAMPLE * W)."""
    rows = (np.arange(round(pixels.shape[0] * UPSAMPLE)) / UPSAMPLE).astype(int)
    columns = (np.arange(round(pixels.shape[1] * UPSAMPLE)) / UPSAMPLE).astype(int)
    return np.ascontiguousarray(pixels[rows][:, columns])


def time_reads(path: Path, max_side_px: int | None, repeats: int) -> tuple[float, float, tuple[int, int]]:
    """Median wall and CPU seconds per read, and the decoded (rows, columns)."""
    shape = read_image(path, max_side_px=max_side_px).shape  # warm up (imports, caches)
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        read_image(path, max_side_px=max_side_px)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    source = args.data / FIXTURE
    print(f"# bench_io: {platform.processor() or platform.machine()}, python {platform.python_version()}, 1 core")
    print(f"{'file':<16} {'max_side_px':>11} {'decoded':>11} {'wall s':>8} {'cpu s':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for path in [source, *write_large_copies(source, Path(folder))]:
            for max_side_px in (None, DEFAULT_MAX_SIDE_PX, 960):
                wall, cpu, (rows, columns) = time_reads(path, max_side_px, args.repeats)
                print(f"{path.name:<16} {max_side_px!s:>11} {f'{columns}x{rows}':>11} {wall:8.3f} {cpu:8.3f}")


if __name__ == "__main__":
    main()
