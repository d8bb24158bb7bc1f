"""The reading room in a real Chromium (Debian's, via npm playwright-core) on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from januscxr.server import create_app
from januscxr.server.ingest import ingest_file
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "browser" / "reading_room.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "browser"

pytestmark = pytest.mark.browser


def _require(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; .ci/run installs it")
        pytest.skip(why)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    app = create_app(make_settings(tmp_path))
    room = app.state.room
    add_users(room)
    for n in range(3):  # three studies: the script reads one, then "sign and next" walks to the third
        source = tmp_path / f"chest{n}.dcm"
        source.write_bytes(dicom_bytes())
        outcome = ingest_file(room.db, room.data_dir, source, name=source.name)
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


def test_read_and_sign_in_chromium(live_server: str) -> None:
    _require(CHROMIUM.is_file(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    _require(shutil.which("node") is not None, "no node")
    _require((REPO / "node_modules" / "playwright-core").is_dir(), "node_modules/playwright-core missing (npm ci)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["node", str(SCRIPT), live_server, str(ARTIFACTS), "rad", PASSWORD],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert (ARTIFACTS / "06-addendum.png").is_file()
    assert (ARTIFACTS / "09-sign-and-next.png").is_file()
