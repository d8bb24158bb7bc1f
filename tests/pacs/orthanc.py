"""A real Orthanc on loopback for the tests: its own storage, free ports, authentication on, DICOMweb on.

>>> with run_orthanc(tmp_path) as pacs:  # doctest: +SKIP
...     pacs.upload(path)  # REST POST /instances
...     pacs.dicomweb_url, pacs.dicom_port, pacs.aet, pacs.username, pacs.password

Debian's ``orthanc`` and ``orthanc-dicomweb`` packages provide the server and plugin; where they
are absent the test is skipped (and fails in CI, which installs them).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.pacs.conftest import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class OrthancServer:
    """A running Orthanc: where to reach it and how to log in."""

    http_url: str  # http://127.0.0.1:<port>, no trailing slash
    dicom_port: int
    aet: str
    username: str
    password: str = field(repr=False)
    storage_dir: Path
    log_file: Path

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.http_url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def upload(self, path: Path) -> str:
        """Store a DICOM file through Orthanc's REST API; its Orthanc instance id."""
        response = requests.post(f"{self.http_url}/instances", data=path.read_bytes(), auth=self.auth, timeout=30)
        response.raise_for_status()
        return str(response.json()["ID"])

    def get(self, path: str) -> Any:
        """A JSON answer of the REST API (``path`` like ``/instances``)."""
        response = requests.get(f"{self.http_url}{path}", auth=self.auth, timeout=30)
        response.raise_for_status()
        return response.json()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def require_orthanc() -> None:
    """Skip where Orthanc or its DICOMweb plugin is not installed (fail in CI, which installs them)."""
    missing = [str(path) for path in (ORTHANC, DICOMWEB_PLUGIN) if not path.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (apt-get install -y orthanc orthanc-dicomweb)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def run_orthanc(
    folder: Path,
    *,
    aet: str = "ORTHANC",
    modalities: Mapping[str, tuple[str, str, int]] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Iterator[OrthancServer]:
    """Start Orthanc with a fresh storage in a new folder under ``folder``; stop it and remove that folder afterwards.

    ``modalities`` are Orthanc's DicomModalities (name: (AE title, host, port)), for C-STORE and
    C-MOVE to a peer; ``config`` entries override the rest of the generated configuration.
    """
    require_orthanc()
    folder.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="orthanc-", dir=folder))  # a fresh storage, even in a reused folder
    http_port, dicom_port = _two_free_ports()
    username, password = "januscxr-test", secrets.token_urlsafe(12)
    storage = folder / "storage"
    settings: dict[str, Any] = {
        "Name": "januscxr-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {username: password},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomModalities": {name: list(peer) for name, peer in (modalities or {}).items()},
        "StableAge": 1,
        "HttpTimeout": 30,
    } | dict(config or {})
    config_file = folder / "orthanc.json"
    config_file.write_text(json.dumps(settings, indent=2))
    log_file = folder / "orthanc.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([str(ORTHANC), str(config_file)], stdout=log, stderr=subprocess.STDOUT)
    server = OrthancServer(
        http_url=f"http://127.0.0.1:{http_port}",
        dicom_port=dicom_port,
        aet=aet,
        username=username,
        password=password,
        storage_dir=storage,
        log_file=log_file,
    )
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


def _wait_until_up(server: OrthancServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Orthanc exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if requests.get(f"{server.http_url}/system", auth=server.auth, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    _stop(process)
    raise AssertionError(f"Orthanc did not answer /system within {START_TIMEOUT_S:g} s:\n{server.log()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
