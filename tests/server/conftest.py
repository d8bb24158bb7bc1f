"""A reading room on a temporary SQLite file with the fake classifier, and logged-in clients."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from januscxr.server import Settings, create_app
from januscxr.server.deps import ReadingRoom
from januscxr.server.security import hash_password
from januscxr.storage.users import add_user
from tests.conftest import chest_pixels, cr_dataset

PASSWORD = "correct horse battery"
USERS = {"rad": "radiologist", "rad2": "radiologist", "res": "resident", "admin": "admin"}


@dataclass
class Reader:
    """A logged-in TestClient and its CSRF token."""

    client: TestClient
    csrf: str

    def write(self, method: str, url: str, **kwargs: object) -> object:
        headers = {"X-CSRF-Token": self.csrf}
        return self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "classifier": "fake-classifier"}
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def add_users(room: ReadingRoom) -> None:
    with room.db.write() as session:
        for name, role in USERS.items():
            add_user(session, name, _HASH, role, display_name=f"Dr {name}")


_HASH = hash_password(PASSWORD)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path))
    add_users(app.state.room)
    yield app


@pytest.fixture
def room(app: FastAPI) -> ReadingRoom:
    room: ReadingRoom = app.state.room
    return room


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def login(app: FastAPI) -> Iterator[Callable[[str], Reader]]:
    clients: list[TestClient] = []

    def log_in(username: str) -> Reader:
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        response = client.post("/api/session", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return Reader(client, response.json()["csrf_token"])

    yield log_in
    for client in clients:
        client.__exit__(None, None, None)


def png_bytes(seed: int = 0, size: int = 96) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = chest_pixels(size, size, bits=8).astype(np.float32) + rng.normal(0, 3, (size, size))
    buffer = io.BytesIO()
    PILImage.fromarray(np.uint8(np.clip(pixels, 0, 255))).save(buffer, format="PNG")
    return buffer.getvalue()


def dicom_bytes(**attributes: object) -> bytes:
    buffer = io.BytesIO()
    cr_dataset(**attributes).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def upload_and_read(reader: Reader, room: ReadingRoom, *files: tuple[str, bytes]) -> list[dict[str, object]]:
    """Upload files, wait for the worker pool, return the per-file outcomes."""
    response = reader.write("POST", "/api/studies", files=[("files", (name, data)) for name, data in files])
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    room.pool.wait_idle()
    return response.json()  # type: ignore[attr-defined,no-any-return]
