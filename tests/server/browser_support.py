"""A reading room served by uvicorn on a free loopback port, and the browser tests' prerequisites."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from januscxr.server.deps import ReadingRoom
from januscxr.server.ingest import ingest_file

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "browser"


def require_browser() -> None:
    """Skip without Chromium, node or playwright-core; fail in CI, which installs them."""
    for ok, why in (
        (CHROMIUM.is_file(), f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
        (shutil.which("node") is not None, "no node"),
        ((REPO / "node_modules" / "playwright-core").is_dir(), "node_modules/playwright-core missing (npm ci)"),
    ):
        if not ok:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{why}; .ci/run installs it")
            pytest.skip(why)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def ingest_and_read(room: ReadingRoom, *sources: Path) -> None:
    """Ingest files as the folder watcher would and wait until the model has read them."""
    for source in sources:
        outcome = ingest_file(room.db, room.data_dir, source, name=source.name)
        assert outcome.image_id is not None
        room.pool.submit(outcome.image_id)
    room.pool.wait_idle()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_script(script: Path, *args: str) -> None:
    """Run a Playwright script with node; its output is the failure message."""
    result = subprocess.run(
        ["node", str(script), *args], capture_output=True, text=True, timeout=180, cwd=REPO, check=False
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
