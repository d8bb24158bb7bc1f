"""``januscxr serve --processes 2``: two web processes on one port, background services once.

The serve command runs as a real subprocess on a free port. Which web process holds a client's
connection is read from /proc (socket inodes of each process against /proc/net/tcp), so the
test knows that a session, a CSRF token, the login throttle and an upload cross processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydicom.uid import UID

from januscxr.server import create_app
from januscxr.server.security import hash_password
from januscxr.storage.database import open_database
from januscxr.storage.tables import Job
from januscxr.storage.users import add_user, find_user, set_password_hash
from tests.pacs.conftest import association, free_port, status_of
from tests.server.conftest import PASSWORD, add_users, make_settings, png_bytes
from tests.storage.conftest import fresh_postgres, postgres_url

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc (Linux)")

ROOT = Path(__file__).resolve().parents[2]
VERIFICATION = UID("1.2.840.10008.1.1")
STARTUP_TIMEOUT_S = 90.0
TCP_ESTABLISHED, TCP_LISTEN = "01", "0A"
CONCURRENT_CLIENTS = 16


@dataclass
class Deployment:
    """A running ``januscxr serve --processes 2`` and what the test needs to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    dicom_port: int
    database_url: str
    log: Path

    def web_pids(self) -> set[int]:
        """The serve process's children that hold the web port's listening socket."""
        listening = _socket_inodes(self.port, TCP_LISTEN)
        return {pid for pid in _children(self.process.pid) if _process_sockets(pid) & listening}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        url = f"sqlite:///{(data_dir / 'januscxr.db').resolve()}"
    else:
        url = postgres_url()
        fresh_postgres(url)
    data_dir.mkdir(mode=0o700)
    db = open_database(url)
    with db.write() as session:
        add_user(session, "rad", hash_password(PASSWORD), "radiologist")
    db.dispose()
    port, dicom_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "JANUSCXR_DICOM_PORT": str(dicom_port),
        "JANUSCXR_JOB_POLL_S": "0.2",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "januscxr.cli.app", "serve", "--processes", "2", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--database-url", url, "--classifier", "fake-classifier"]
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    served = Deployment(process, f"http://127.0.0.1:{port}", port, dicom_port, url, log)
    try:
        _wait_for(lambda: len(served.web_pids()) == 2 and _ready(served.url), STARTUP_TIMEOUT_S, "two web processes")
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_two_web_processes_share_sessions_throttle_queue_and_one_listener(deployment: Deployment) -> None:
    web_pids = deployment.web_pids()
    assert deployment.process.pid not in web_pids
    one, other = sorted(web_pids)

    # One login; its cookie and CSRF token work on connections held by either process.
    with httpx.Client(base_url=deployment.url) as first:
        login = first.post("/api/session", json={"username": "rad", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookies, csrf = dict(first.cookies), login.json()["csrf_token"]
    clients = _clients_on_every_process(deployment, web_pids, cookies=cookies)
    for pid in web_pids:
        assert _call(deployment, clients, pid, "GET", "/api/me").json()["username"] == "rad"
        # No CSRF token: refused by every process alike.
        assert (
            _call(deployment, clients, pid, "POST", "/api/studies/1/activity", json={"active_ms": 9}).status_code == 403
        )

    # An upload through one process is read by the serve process's workers, listed by the other.
    files = [("files", ("chest.png", png_bytes(seed=3)))]
    uploaded = _call(deployment, clients, one, "POST", "/api/studies", files=files, headers={"X-CSRF-Token": csrf})
    assert uploaded.status_code == 202, uploaded.text
    _wait_for(lambda: _ai_statuses(deployment, clients, other) == ["done"], 30.0, "the upload read, listed elsewhere")
    assert _readers_of_jobs(deployment.database_url) == {deployment.process.pid}

    # Logging out through one process ends the session in the other at once.
    clients = _clients_on_every_process(deployment, web_pids, cookies=cookies)  # idle connections time out
    assert _call(deployment, clients, other, "GET", "/api/me").status_code == 200
    assert _call(deployment, clients, one, "POST", "/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
    assert _call(deployment, clients, other, "GET", "/api/me").status_code == 401

    # Six wrong passwords over both processes: five are checked, the sixth meets the lockout.
    clients = _clients_on_every_process(deployment, web_pids, cookies={})
    guess = {"username": "rad", "password": "not the password"}
    answers = [_call(deployment, clients, (one, other)[i % 2], "POST", "/api/session", json=guess) for i in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    for client in clients.values():
        client.close()

    # The DICOM listener runs once, in the serve process (a second one could not bind the port).
    listening = _socket_inodes(deployment.dicom_port, TCP_LISTEN)
    assert _owners_of(listening, deployment.process.pid) == {deployment.process.pid}
    with association(deployment.dicom_port, VERIFICATION) as assoc:
        assert assoc.is_established
        assert status_of(assoc.send_c_echo()) == 0x0000

    # SIGTERM: the web processes stop, then the serve process, cleanly.
    deployment.process.send_signal(signal.SIGTERM)
    assert deployment.process.wait(timeout=30) == 0, deployment.log.read_text()
    assert all(_state(pid) in ("gone", "Z") for pid in web_pids)


def test_a_logout_or_password_change_holds_at_once_in_every_web_process(tmp_path: Path) -> None:
    """Two apps on one database, as two web processes: nothing about a session is remembered in memory."""
    first, second = create_app(make_settings(tmp_path)), create_app(make_settings(tmp_path), background=False)
    add_users(first.state.room)
    with TestClient(first) as one, TestClient(second) as other:
        csrf = one.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        other.cookies.update(one.cookies)
        assert other.get("/api/me").status_code == 200
        # No CSRF token: refused by what the database holds for the session.
        assert other.post("/api/studies/1/activity", json={"active_ms": 5}).status_code == 403
        assert one.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code == 303
        assert other.get("/api/me").status_code == 401

        csrf = one.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        other.cookies.update(one.cookies)
        assert other.get("/api/me").status_code == 200
        with first.state.room.db.write() as session:
            user = find_user(session, "rad")
            assert user is not None
            set_password_hash(session, user, hash_password("a new long password"))  # as `januscxr users` does
        assert other.get("/api/me").status_code == 401


def test_a_web_process_queues_uploads_and_starts_no_worker(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), background=False)
    room = app.state.room
    add_users(room)
    with TestClient(app) as client:
        csrf = client.post("/api/session", json={"username": "rad", "password": PASSWORD}).json()["csrf_token"]
        files = [("files", ("chest.png", png_bytes(seed=5)))]
        assert client.post("/api/studies", files=files, headers={"X-CSRF-Token": csrf}).status_code == 202
        time.sleep(0.5)
        with room.db.read() as session:
            assert [(job.state, job.leased_by) for job in session.query(Job)] == [("queued", None)]
    assert not [t for t in threading.enumerate() if t.name.startswith("januscxr-infer")]


def _clients_on_every_process(
    deployment: Deployment, web_pids: set[int], *, cookies: dict[str, str]
) -> dict[int, httpx.Client]:
    """One keep-alive client per web process. Connections opened one after another tend to land
    on the same process; opened together, the idle process takes some."""
    found: dict[int, httpx.Client] = {}
    path = "/api/me" if cookies else "/login"  # answered 200 with and without a session
    for _ in range(5):
        clients = [httpx.Client(base_url=deployment.url, cookies=cookies) for _ in range(CONCURRENT_CLIENTS)]
        with ThreadPoolExecutor(CONCURRENT_CLIENTS) as executor:
            statuses = list(executor.map(lambda c: c.get(path).status_code, clients))
        assert statuses == [200] * len(clients)
        for client in clients:
            pid = _connection_owner(deployment, client, web_pids)
            if pid in found:
                client.close()
            else:
                found[pid] = client
        if set(found) == web_pids:
            return found
    raise AssertionError(f"{5 * CONCURRENT_CLIENTS} connections all landed on {set(found)}")


def _call(
    deployment: Deployment, clients: dict[int, httpx.Client], pid: int, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """A request over the connection that web process ``pid`` holds (checked after the answer)."""
    response = clients[pid].request(method, url, **kwargs)
    assert _connection_owner(deployment, clients[pid], set(clients)) == pid, f"{method} {url} not served by {pid}"
    return response


def _connection_owner(deployment: Deployment, client: httpx.Client, web_pids: set[int]) -> int:
    """The web process that holds ``client``'s one keep-alive connection."""
    pool = client._transport._pool  # type: ignore[attr-defined]
    (connection,) = pool.connections
    local_port = connection._connection._network_stream.get_extra_info("socket").getsockname()[1]
    server_side = _socket_inodes(deployment.port, TCP_ESTABLISHED, remote_port=local_port)
    (owner,) = _owners_of(server_side, *web_pids)
    return owner


def _socket_inodes(local_port: int, state: str, *, remote_port: int | None = None) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, socket_state, inode = fields[1], fields[2], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) != local_port or socket_state != state:
                continue
            if remote_port is None or int(remote.rsplit(":", 1)[1], 16) == remote_port:
                inodes.add(inode)
    return inodes


def _process_sockets(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return inodes


def _owners_of(inodes: set[str], *pids: int) -> set[int]:
    candidates = {*pids, *(child for pid in pids for child in _children(pid))}
    return {pid for pid in candidates if _process_sockets(pid) & inodes}


def _children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _ai_statuses(deployment: Deployment, clients: dict[int, httpx.Client], pid: int) -> list[str]:
    response = _call(deployment, clients, pid, "GET", "/api/worklist")
    assert response.status_code == 200, response.text
    return [row["ai_status"] for row in response.json()]


def _readers_of_jobs(database_url: str) -> set[int]:
    """The pids that claimed jobs (``leased_by`` is host:pid:token/worker)."""
    db = open_database(database_url)
    try:
        with db.read() as session:
            return {int(job.leased_by.split(":")[1]) for job in session.query(Job) if job.leased_by}
    finally:
        db.dispose()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
