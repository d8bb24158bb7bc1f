"""Data for the chest-radiograph gate: chest positives, made-up negatives and held-out negatives.

Every image is reduced to the gate's input (:data:`GATE_SIZE` px, uint8) through the same
``januscxr.io`` and ``resize_square`` path the gate uses at inference.

* Chest positives: Kermany (pediatric, split by ``patient_key``) and NIH ChestX-ray14
  (adult, split by ``patient_id``) into train / valid / test patients; the fixtures (other
  collections, DICOM) are never trained on and only measured.
* Training negatives (:data:`TRAINING_CATEGORIES`): made in code here: blank and gradients,
  several kinds of noise, rendered text documents, drawn shapes, and chest radiographs cut
  into shuffled tiles.
* Held-out negatives (:func:`heldout_negatives`): categories the gate never saw in any form:
  photographs and logos (matplotlib's sample data), CT, MR, ultrasound and nuclear-medicine
  images (pydicom's test files, read through ``read_dicom`` with headers that lie: Modality
  CR, Body Part CHEST), charts rendered by matplotlib, scientific raster data, and crude
  laterals built from held-out chest radiographs.
"""

from __future__ import annotations

import csv
import gzip
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from scipy import ndimage

from januscxr.errors import JanusCxrError
from januscxr.io import read_dicom, read_image
from januscxr.preprocess import resize_square

GATE_SIZE = 64
CHEST = "chest"
TRAINING_CATEGORIES = ("blank", "noise", "document", "graphics", "scrambled")
CLASSES = (CHEST, *TRAINING_CATEGORIES)
SPLITS = ("train", "valid", "test")
_SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
_WORDS = (
    "patient",
    "report",
    "lorem",
    "ipsum",
    "invoice",
    "total",
    "date",
    "name",
    "page",
    "settings",
    "file",
    "edit",
    "view",
    "help",
    "window",
    "account",
    "order",
    "status",
    "table",
    "value",
    "result",
    "figure",
    "summary",
    "error",
    "open",
    "close",
    "save",
    "print",
    "login",
)

Pixels = npt.NDArray[np.uint8]  # (N, GATE_SIZE, GATE_SIZE)


@dataclass(frozen=True)
class ChestSet:
    """Chest radiographs of one split at the gate's size, with the source of each."""

    pixels: Pixels
    sources: list[str]  # "kermany" | "nih1000" | "fixtures"
    names: list[str]


def to_gate_pixels(pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """(H, W) in [0, 1] -> (GATE_SIZE, GATE_SIZE) uint8, as the gate sees it."""
    return np.round(np.clip(resize_square(pixels.astype(np.float32), GATE_SIZE), 0, 1) * 255).astype(np.uint8)


def split_patients(keys: list[str], seed: int) -> list[str]:
    """Each row's split, whole patients at a time (60 / 20 / 20)."""
    patients = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(patients))
    cut1 = round(len(patients) * _SPLIT_FRACTIONS[0])
    cut2 = cut1 + round(len(patients) * _SPLIT_FRACTIONS[1])
    split_of = {patients[i]: SPLITS[0 if rank < cut1 else 1 if rank < cut2 else 2] for rank, i in enumerate(order)}
    return [split_of[k] for k in keys]


def chest_rows(data_root: Path, seed: int) -> list[tuple[Path, str, str]]:
    """(path, source, split) for every chest radiograph under ``data_root``."""
    rows: list[tuple[Path, str, str]] = []
    for source, key in (("kermany", "patient_key"), ("nih1000", "patient_id")):
        with (data_root / source / "labels.csv").open(newline="") as handle:
            records = list(csv.DictReader(handle))
        splits = split_patients([r[key] for r in records], seed)
        rows += [(data_root / source / r["path"], source, s) for r, s in zip(records, splits, strict=True)]
    fixtures = sorted(p for p in (data_root / "fixtures").rglob("*") if p.is_file() and not p.name.startswith("."))
    rows += [(p, "fixtures", "test") for p in fixtures]
    return rows


def load_chest_sets(data_root: str | Path, *, seed: int = 0, cache: Path | None = None) -> dict[str, ChestSet]:
    """Train, valid and test chest radiographs at the gate's size; ``cache`` (.npz) keeps them."""
    rows = chest_rows(Path(data_root).resolve(), seed)
    if cache is not None and cache.exists():
        stored = np.load(cache)
        pixels = stored["pixels"]
    else:
        pixels = np.stack([to_gate_pixels(read_image(path).pixels) for path, _, _ in rows])
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, pixels=pixels)
    sets = {}
    for split in SPLITS:
        index = [i for i, row in enumerate(rows) if row[2] == split]
        sets[split] = ChestSet(pixels[index], [rows[i][1] for i in index], [rows[i][0].name for i in index])
    return sets


# ---- training negatives: made in code -------------------------------------------------------


def _blank(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    size = int(rng.integers(64, 256))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(4)
    if kind == 0:
        image = np.full((size, size), rng.random(), np.float32)
    elif kind == 1:
        angle = rng.random() * 2 * np.pi
        image = np.cos(angle) * x + np.sin(angle) * y
    elif kind == 2:
        image = np.hypot(x - rng.random(), y - rng.random())
    else:
        image = np.full((size, size), rng.random(), np.float32)
        image[: rng.integers(1, size), :] = rng.random()  # two flat regions: a half-exposed frame
    return _stretch(image + rng.normal(0, rng.random() * 0.02, image.shape), rng)


def _noise(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    size = int(rng.integers(64, 320))
    kind = rng.integers(5)
    if kind == 0:
        image = rng.random((size, size))
    elif kind == 1:
        image = rng.normal(0.5, 0.2, (size, size))
    elif kind == 2:
        image = (rng.random((size, size)) < rng.uniform(0.05, 0.5)).astype(np.float64)
    elif kind == 3:
        image = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=rng.uniform(0.7, 12))
    else:  # 1/f^beta noise
        fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
        radius = np.hypot(fx, fy)
        radius[0, 0] = 1.0
        spectrum = np.fft.fft2(rng.normal(size=(size, size))) / radius ** rng.uniform(0.5, 2.0)
        image = np.fft.ifft2(spectrum).real
    return _stretch(image, rng)


def _document(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    width, height = int(rng.integers(160, 640)), int(rng.integers(160, 640))
    dark = rng.random() < 0.35
    canvas = PILImage.new("L", (width, height), int(rng.integers(0, 60) if dark else rng.integers(190, 256)))
    draw = ImageDraw.Draw(canvas)
    font_px = int(rng.integers(8, 36))
    font = ImageFont.load_default(size=font_px)
    y = int(rng.integers(0, 20))
    while y < height:
        if rng.random() < 0.15:  # a panel, rule or table cell
            x0 = int(rng.integers(0, width // 2))
            box = (x0, y, int(rng.integers(x0 + 1, width + 1)), y + int(rng.integers(2, font_px * 3)))
            draw.rectangle(box, fill=int(rng.integers(0, 256)), outline=int(rng.integers(0, 256)))
        line = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 12))))
        draw.text(
            (int(rng.integers(0, 30)), y),
            line,
            fill=int(rng.integers(190, 256) if dark else rng.integers(0, 70)),
            font=font,
        )
        y += int(font_px * rng.uniform(1.1, 2.5))
    return np.asarray(canvas, np.float32) / 255.0


def _graphics(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    size = int(rng.integers(96, 320))
    canvas = PILImage.new("L", (size, size), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 25))):
        x0, y0 = (int(v) for v in rng.integers(-size // 4, size, 2))
        x1, y1 = x0 + int(rng.integers(4, size)), y0 + int(rng.integers(4, size))
        fill, kind = int(rng.integers(0, 256)), rng.integers(4)
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        elif kind == 2:
            draw.line((x0, y0, x1, y1), fill=fill, width=int(rng.integers(1, 12)))
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(3)], fill=fill)
    image = np.asarray(canvas, np.float32) / 255.0
    if rng.random() < 0.5:  # soften and add texture, like a photograph
        image = ndimage.gaussian_filter(image, rng.uniform(0.5, 3)) + rng.normal(0, 0.03, image.shape)
    return _stretch(image, rng)


def _stretch(image: npt.NDArray[np.floating], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Map onto a random sub-range of [0, 1], as displays and windows do."""
    low, high = float(image.min()), float(image.max())
    unit = (image - low) / (high - low) if high > low else np.zeros_like(image)
    a, b = np.sort(rng.random(2))
    if rng.random() < 0.5:
        a, b = 0.0, 1.0
    return np.asarray(a + (b - a) * unit, dtype=np.float32)


def scramble(chest: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A chest radiograph cut into 2x2 to 8x8 tiles, shuffled: local texture, no anatomy."""
    tiles = int(rng.choice([2, 4, 8]))
    step = GATE_SIZE // tiles
    blocks = [chest[r : r + step, c : c + step] for r in range(0, GATE_SIZE, step) for c in range(0, GATE_SIZE, step)]
    order = rng.permutation(len(blocks))
    rows = [np.hstack([blocks[order[r * tiles + c]] for c in range(tiles)]) for r in range(tiles)]
    return np.vstack(rows)


_MAKERS: dict[str, Callable[[np.random.Generator], npt.NDArray[np.float32]]] = {
    "blank": _blank,
    "noise": _noise,
    "document": _document,
    "graphics": _graphics,
}


def training_negatives(count: int, chests: Pixels, *, seed: int) -> tuple[Pixels, npt.NDArray[np.int64]]:
    """``count`` made-up negatives, spread evenly over :data:`TRAINING_CATEGORIES`, and their class index."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((count, GATE_SIZE, GATE_SIZE), np.uint8)
    labels = np.zeros(count, np.int64)
    for i in range(count):
        category = TRAINING_CATEGORIES[i % len(TRAINING_CATEGORIES)]
        if category == "scrambled":
            pixels[i] = scramble(chests[rng.integers(len(chests))], rng)
        else:
            pixels[i] = to_gate_pixels(_MAKERS[category](rng))
        labels[i] = CLASSES.index(category)
    return pixels, labels


# ---- held-out negatives: never generated or seen in training ----------------------------------


def heldout_negatives(
    test_chests: ChestSet, *, seed: int = 1, variants: int = 20
) -> dict[str, list[tuple[str, Pixels]]]:
    """Per category: (distinct source image, its ``variants`` crops / windows at the gate's size)."""
    rng = np.random.default_rng(seed)
    sources: dict[str, list[tuple[str, npt.NDArray[np.float32]]]] = {
        "photograph or logo": list(_matplotlib_photos()),
        "CT slice": list(_pydicom_images(("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"))),
        "MR slice": [*_pydicom_images(("MR_small.dcm", "examples_overlay.dcm")), ("s1045.ima", _mr_s1045())],
        "ultrasound": list(_pydicom_images(("examples_rgb_color.dcm", "examples_palette.dcm", "examples_jpeg2k.dcm"))),
        "nuclear medicine": list(_pydicom_images(("JPGExtended.dcm",))),
        "scientific raster": list(_scientific_rasters()),
    }
    out: dict[str, list[tuple[str, Pixels]]] = {}
    for category, images in sources.items():
        out[category] = [(name, np.stack([_variant(px, rng, k) for k in range(variants)])) for name, px in images]
    out["chart or screenshot"] = [(f"matplotlib-{k}", np.stack([_chart(rng)])) for k in range(variants * 5)]
    picks = rng.choice(len(test_chests.pixels), size=min(100, len(test_chests.pixels)), replace=False)
    out["crude lateral"] = [(test_chests.names[i], crude_lateral(test_chests.pixels[i])[None]) for i in picks]
    return out


def crude_lateral(chest: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A crude stand-in for a lateral view: one hemithorax and the spine stretched to full width.

    Real laterals show the spine at one edge and the sternum at the other; this keeps the
    asymmetry and the radiographic texture but not the anatomy. No real lateral was available.
    """
    half = chest[:, : GATE_SIZE // 2 + GATE_SIZE // 8].astype(np.float32) / 255.0
    return to_gate_pixels(half)


def _variant(pixels: npt.NDArray[np.float32], rng: np.random.Generator, k: int) -> npt.NDArray[np.uint8]:
    """The image itself first, then random crops, flips and gamma."""
    if k > 0:
        rows, cols = pixels.shape
        scale = rng.uniform(0.5, 1.0)
        h, w = max(8, int(rows * scale)), max(8, int(cols * scale))
        top, left = int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1))
        pixels = pixels[top : top + h, left : left + w] ** np.float32(rng.uniform(0.6, 1.6))
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
    return to_gate_pixels(pixels)


def _matplotlib_photos() -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
    from matplotlib import cbook

    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        path = Path(str(cbook.get_sample_data(name, asfileobj=False)))
        yield name, read_image(path).pixels


def _pydicom_images(names: tuple[str, ...]) -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
    """pydicom test files read through ``read_dicom`` after rewriting the header to claim a chest CR."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            dataset = dcmread(str(get_testdata_file(name)))
            dataset.Modality, dataset.BodyPartExamined = "CR", "CHEST"
            path = Path(folder) / name
            dataset.save_as(path)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    yield name, read_dicom(path).pixels
            except JanusCxrError:
                continue


def _mr_s1045() -> npt.NDArray[np.float32]:
    from matplotlib import cbook

    with gzip.open(str(cbook.get_sample_data("s1045.ima.gz", asfileobj=False))) as handle:
        values = np.frombuffer(handle.read(), np.uint16).reshape(256, 256).astype(np.float32)
    return values / max(float(values.max()), 1.0)


def _scientific_rasters() -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
    from matplotlib import cbook

    def unit(values: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        return np.asarray((values - values.min()) / (values.max() - values.min()), dtype=np.float32)

    with np.load(str(cbook.get_sample_data("jacksboro_fault_dem.npz", asfileobj=False))) as dem:
        yield "jacksboro_fault_dem", unit(dem["elevation"])
    with np.load(str(cbook.get_sample_data("topobathy.npz", asfileobj=False))) as topo:
        yield "topobathy", unit(topo["topo"])
    yield (
        "bivariate_normal",
        unit(np.load(str(cbook.get_sample_data("axes_grid/bivariate_normal.npy", asfileobj=False)))),
    )


def _chart(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A matplotlib chart with axes, labels and a title, rendered to pixels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(rng.uniform(3, 6), rng.uniform(3, 6)), dpi=60)
    kind = rng.integers(4)
    x = np.arange(20)
    if kind == 0:
        axes.plot(x, np.cumsum(rng.normal(size=(20, 3)), axis=0))
    elif kind == 1:
        axes.bar(x[:8], rng.random(8))
    elif kind == 2:
        axes.scatter(*rng.normal(size=(2, 60)))
    else:
        figure.colorbar(axes.imshow(rng.random((8, 8)), cmap=str(rng.choice(["gray", "viridis", "bone"]))))
    axes.set_title("quarterly results")
    axes.set_xlabel("time")
    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba(), np.float32)[..., :3] / 255.0  # type: ignore[attr-defined]
    plt.close(figure)
    return to_gate_pixels(rgba @ np.array([0.299, 0.587, 0.114], np.float32))
