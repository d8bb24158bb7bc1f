"""Issue 11 in a real Chromium: failed reads, live search, self-refreshing worklist, discordances, upload counts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from januscxr.server import create_app
from tests.server.browser_support import ARTIFACTS, ingest_and_read, require_browser, run_script, serving
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings

SCRIPT = Path(__file__).parent / "browser" / "worklist_failures.mjs"

pytestmark = [pytest.mark.browser, pytest.mark.real_gate]


def _noise_png(path: Path, seed: int) -> Path:
    buffer = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 256), dtype=np.uint8)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    app = create_app(make_settings(tmp_path))
    add_users(app.state.room)
    chest = tmp_path / "chest.dcm"
    chest.write_bytes(dicom_bytes())
    ingest_and_read(app.state.room, chest, _noise_png(tmp_path / "noise.png", 1))
    with serving(app) as url:
        yield url


def test_failed_reads_search_refresh_and_discordances_in_chromium(live_server: str, tmp_path: Path) -> None:
    require_browser()
    noise = _noise_png(tmp_path / "page-noise.png", 2)
    run_script(SCRIPT, live_server, str(ARTIFACTS), "rad", PASSWORD, str(noise))
    assert (ARTIFACTS / "13-upload.png").is_file()
