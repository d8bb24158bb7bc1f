"""Issue 11 in a real Chromium: failed reads, live search, self-refreshing worklist, discordances, upload counts."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image as PILImage

from januscxr.server import create_app
from januscxr.server.ingest import ingest_file
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings
from tests.server.test_browser import ARTIFACTS, CHROMIUM, REPO, _require

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
    room = app.state.room
    add_users(room)
    for name, source in [("chest.dcm", None), ("noise.png", _noise_png(tmp_path / "noise.png", 1))]:
        if source is None:
            source = tmp_path / name
            source.write_bytes(dicom_bytes())
        outcome = ingest_file(room.db, room.data_dir, source, name=name)
        assert outcome.image_id is not None
        room.pool.submit(outcome.image_id)
    room.pool.wait_idle()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_failed_reads_search_refresh_and_discordances_in_chromium(live_server: str, tmp_path: Path) -> None:
    _require(CHROMIUM.is_file(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    _require(shutil.which("node") is not None, "no node")
    _require((REPO / "node_modules" / "playwright-core").is_dir(), "node_modules/playwright-core missing (npm ci)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    noise = _noise_png(tmp_path / "page-noise.png", 2)
    result = subprocess.run(
        ["node", str(SCRIPT), live_server, str(ARTIFACTS), "rad", PASSWORD, str(noise)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert (ARTIFACTS / "13-upload.png").is_file()
