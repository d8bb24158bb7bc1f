"""The browser's PNGs: heatmap overlays tint only where there is heat, and the legend shows the same ramp."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image as PILImage

from januscxr.server import imaging
from januscxr.server.imaging import HEAT_FLOOR, HEATMAP_MAX_ALPHA, heatmap_png, heatmap_rgba

APP_CSS = Path(imaging.__file__).parent / "static" / "app.css"


def _overlay(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = PILImage.open(io.BytesIO(heatmap_png(heatmap.astype(np.float32), size)))
    assert image.mode == "RGBA" and image.size == size
    return np.asarray(image).astype(np.float32) / 255.0  # (H, W, 4)


def test_overlay_is_transparent_where_the_heat_is_low() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 101, dtype=np.float32), (3, 1))  # (3, 101): heat rising left to right
    rgba = _overlay(ramp, (101, 3))[1]  # (101, 4)
    heat = np.linspace(0.0, 1.0, 101)
    assert np.all(rgba[heat < HEAT_FLOOR, 3] == 0.0)
    assert np.all(np.diff(rgba[:, 3]) >= 0.0)  # opacity rises with heat
    assert rgba[-1, 3] == pytest.approx(HEATMAP_MAX_ALPHA, abs=1 / 255)
    assert rgba[heat >= 0.5, 3].min() > 0.0


def test_a_cold_map_leaves_the_film_untouched_and_a_spot_tints_only_around_itself() -> None:
    assert np.all(_overlay(np.zeros((8, 8)), (64, 48))[..., 3] == 0.0)
    spot = np.zeros((16, 16), dtype=np.float32)
    spot[7:9, 7:9] = 1.0
    alpha = _overlay(spot, (160, 160))[..., 3]
    assert alpha[80, 80] > 0.5 * HEATMAP_MAX_ALPHA
    assert (alpha > 0).mean() < 0.05  # the rest of the image is not tinted
    assert np.all(alpha[:40] == 0.0) and np.all(alpha[:, 120:] == 0.0)


def test_colours_follow_a_perceptual_map_brighter_with_heat() -> None:
    heat = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    rgba = heatmap_rgba(heat)
    expected = colormaps[imaging.HEATMAP_COLORMAP](heat)[:, :3]
    np.testing.assert_allclose(rgba[:, :3], expected, atol=0.01)  # one step of the 256-entry map
    luminance = rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luminance) > 0)


def test_out_of_range_and_missing_heat_is_clipped() -> None:
    rgba = heatmap_rgba(np.array([-1.0, np.nan, 2.0], dtype=np.float32))
    np.testing.assert_allclose(rgba[:2, 3], 0.0)
    assert rgba[2, 3] == pytest.approx(HEATMAP_MAX_ALPHA)


def test_the_legend_in_the_stylesheet_is_the_overlays_ramp() -> None:
    css = APP_CSS.read_text()
    block = re.search(r"\.heatmap-legend \.bar \{[^}]*linear-gradient\(to right,(?P<stops>[^;]*)\)", css)
    assert block is not None, "no .heatmap-legend .bar gradient in app.css"
    stops = re.findall(
        r"rgba\((\d+), (\d+), (\d+), ([\d.]+)\) ([\d.]+)%",
        block["stops"],
    )
    assert len(stops) >= 6
    positions = np.array([float(s[4]) / 100.0 for s in stops], dtype=np.float32)
    assert positions[0] == 0.0 and positions[-1] == 1.0
    expected = heatmap_rgba(positions)
    for stop, want in zip(stops, expected, strict=True):
        np.testing.assert_allclose([int(c) / 255 for c in stop[:3]], want[:3], atol=1.5 / 255)
        assert float(stop[3]) == pytest.approx(float(want[3]), abs=0.006)
