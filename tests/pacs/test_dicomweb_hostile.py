"""The DICOMweb poller against a hostile or careless PACS: a fake DICOMweb server on loopback.

Whatever the server answers, the poller neither crashes nor hangs, writes nothing outside the
data folder, stores nothing of a bad instance, still retrieves the good studies of the same
poll, names what was wrong (which attribute, which study) on one line in the server's status,
and never lets the password or token reach a log line or a stored error.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage
from sqlalchemy import select

from januscxr.pacs import dicomweb as poller_module
from januscxr.pacs.dicomweb import DicomwebConfig, DicomwebPoller, PollResult
from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.services import DicomIngest
from januscxr.storage import dicomweb as state
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import AuditEvent, DicomwebStudy, Image
from tests.conftest import cr_dataset

TODAY = f"{date.today():%Y%m%d}"
USERNAME, PASSWORD, TOKEN = "poller", "pw-Sekr1t-7f3a", "tok-Sekr1t-91bd"
BASIC = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, TOKEN, BASIC)
ROOT = "/dicom-web"
BOUNDARY = "hostile-boundary"


@dataclass
class Answer:
    """What the fake server sends for one request."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/dicom+json"
    reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True
    trickle_s: float | None = None  # send one byte at a time, forever, this far apart
    reset_after: int | None = None  # send this many body bytes, then reset the connection


Override = Callable[[str, dict[str, list[str]]], Answer | None]


class FakePacs:
    """A DICOMweb server of CR studies (QIDO-RS studies, series, instances; WADO-RS series and
    instances) whose answers a test can replace (``override``) or corrupt (``add(part=...)``)."""

    def __init__(self, *, token: str | None = None) -> None:
        self.authorization = f"Bearer {token}" if token else f"Basic {BASIC}"
        self.entries: list[object] = []  # QIDO-RS study entries, in order
        self.series: dict[str, dict[str, list[str]]] = {}  # study -> series -> SOP Instance UIDs
        self.parts: dict[str, bytes] = {}  # SOP Instance UID -> what WADO-RS sends for it
        self.paths: list[str] = []
        self.override: Override = lambda path, query: None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.pacs = self  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{ROOT}"

    def add(self, dataset: Dataset, *, part: bytes | None = None, entry: dict[str, object] | None = None) -> str:
        """Serve ``dataset`` (or ``part`` in its place) in its study and series; its SOP Instance UID."""
        study, series, sop = str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID), str(dataset.SOPInstanceUID)
        if study not in self.series:
            self.entries.append(entry if entry is not None else study_entry(study))
        self.series.setdefault(study, {}).setdefault(series, []).append(sop)
        self.parts[sop] = dicom_bytes(dataset) if part is None else part
        for item in self.entries:  # the count QIDO-RS reports grows with the study
            if isinstance(item, dict) and _uid_of(item) == study and entry is None:
                item["00201208"] = {"vr": "IS", "Value": [sum(len(s) for s in self.series[study].values())]}
        return sop

    def answer(self, path: str, query: dict[str, list[str]], authorization: str | None) -> Answer:
        replaced = self.override(path, query)
        if replaced is not None:
            return replaced
        if authorization != self.authorization:
            return Answer(401, b"<html>login</html>", "text/html")
        parts = path.removeprefix(ROOT).strip("/").split("/")
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["1000"])[0])
        if parts == ["studies"]:
            return json_answer(self.entries[offset : offset + limit])
        study = self.series.get(parts[1], {}) if len(parts) > 1 else {}
        if parts[2:] == ["series"]:
            return json_answer([{"0020000E": {"vr": "UI", "Value": [uid]}} for uid in study])
        if len(parts) == 4:
            return multipart([self.parts[sop] for sop in study.get(parts[3], [])])
        if len(parts) == 5:
            listed = [{"00080018": {"vr": "UI", "Value": [sop]}} for sop in study.get(parts[3], [])]
            return json_answer(listed[offset : offset + limit])
        return multipart([self.parts[parts[5]]])


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        pacs: FakePacs = self.server.pacs  # type: ignore[attr-defined]
        pacs.paths.append(self.path)
        split = urlsplit(self.path)
        answer = pacs.answer(split.path, parse_qs(split.query), self.headers.get("Authorization"))
        with contextlib.suppress(OSError):  # the poller hung up (a bound reached): nothing more to send
            self._send(answer)

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status, answer.reason)
        self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.content_length:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.trickle_s is not None:
            self.wfile.write(answer.body)
            for _ in range(int(30 / answer.trickle_s)):  # ~30 s at most, should the client never give up
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(answer.trickle_s)
        elif answer.reset_after is not None:
            self.wfile.write(answer.body[: answer.reset_after])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _uid_of(entry: dict[str, object]) -> object:
    element = entry.get("0020000D")
    values = element.get("Value") if isinstance(element, dict) else None
    return values[0] if isinstance(values, list) and values else None


def study_entry(uid: object, study_date: object = TODAY, **elements: object) -> dict[str, object]:
    """A QIDO-RS study entry: Study Instance UID and Study Date (raw JSON values, as a server sends them)."""
    return {"0020000D": {"vr": "UI", "Value": [uid]}, "00080020": {"vr": "DA", "Value": [study_date]}} | elements


def json_answer(value: object) -> Answer:
    return Answer(body=json.dumps(value).encode())


def multipart(parts: list[bytes]) -> Answer:
    body = b"".join(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    return Answer(body=body + f"--{BOUNDARY}--\r\n".encode(), content_type=content_type)


def dicom_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def chest(**attributes: object) -> Dataset:
    return cr_dataset(StudyDate=TODAY, **attributes)


@dataclass
class Room:
    """The poller's surroundings: a data folder with its database, and the real ingest."""

    data_dir: Path
    db: Database
    pacs: FakePacs

    def poller(self, **overrides: object) -> DicomwebPoller:
        values: dict[str, object] = {"url": self.pacs.url, "name": "pacs", "poll_s": 0.5, "timeout_s": 2.0}
        values |= {"username": USERNAME, "password": PASSWORD} if "token" not in overrides else {}
        config = DicomwebConfig(**(values | overrides))  # type: ignore[arg-type]
        receiver = DicomIngest(self.db, self.data_dir, submit=lambda image_id, quiet_s: None, origin="dicomweb")
        return DicomwebPoller(config, receiver, self.db, staging_dir=self.data_dir / "spool" / "dicomweb")

    def stored(self) -> set[str]:
        with self.db.read() as session:
            return set(session.scalars(select(Image.sop_instance_uid)))

    def noted(self) -> set[str]:
        with self.db.read() as session:
            return set(session.scalars(select(DicomwebStudy.study_instance_uid)))

    def status(self) -> state.ServerStatus:
        with self.db.read() as session:
            return next(s for s in state.server_statuses(session) if s.name == "pacs")

    def errors(self) -> list[str]:
        with self.db.read() as session:
            studies = list(session.scalars(select(DicomwebStudy.last_error)))
            statuses = [s.last_error for s in state.server_statuses(session)]
            events = [json.dumps(detail) for detail in session.scalars(select(AuditEvent.detail))]
        return [text for text in (*studies, *statuses, *events) if text]


def _serve(pacs: FakePacs) -> Iterator[FakePacs]:
    thread = threading.Thread(target=pacs.server.serve_forever, daemon=True)
    thread.start()
    yield pacs
    pacs.server.shutdown()
    pacs.server.server_close()


@pytest.fixture
def pacs() -> Iterator[FakePacs]:
    yield from _serve(FakePacs())


@pytest.fixture
def room(pacs: FakePacs, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Room]:
    """A room around ``pacs``; afterwards: no secret in the logs or the database, no file outside the data folder."""
    caplog.set_level("DEBUG")
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    room = Room(data_dir, open_database(f"sqlite:///{data_dir / 'januscxr.db'}"), pacs)
    yield room
    stored_errors = room.errors()
    room.db.dispose()
    for secret in SECRETS:
        assert secret not in caplog.text
        assert not [error for error in stored_errors if secret in error]
    outside = [path for path in tmp_path.rglob("*") if data_dir not in path.parents and path != data_dir]
    assert outside == []
    staging = data_dir / "spool" / "dicomweb"
    assert not staging.exists() or list(staging.iterdir()) == []  # nothing left staged


def _one_line(room: Room) -> str:
    error = room.status().last_error or ""
    assert error and "\n" not in error and "\r" not in error and "\x00" not in error
    return error


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        (b'[{"0020000D": ', "application/dicom+json", 200, "JSONDecodeError"),
        (b"<html><body>Internal error</body></html>", "text/html", 200, "Content-Type 'text/html'"),
        (b'"all fine"', "application/dicom+json", 200, "a JSON string; expected an array"),
        (b"42", "application/json", 200, "a JSON number; expected an array"),
        (b"<html>oops</html>", "text/html", 503, "HTTP 503"),
    ],
    ids=["invalid-json", "html-200", "json-string", "json-number", "html-503"],
)
def test_a_qido_answer_that_is_not_a_json_array_fails_the_poll_with_backoff(
    room: Room, body: bytes, content_type: str, status: int, expected: str
) -> None:
    room.pacs.add(chest())
    room.pacs.override = lambda path, query: Answer(status, body, content_type) if path.endswith("/studies") else None
    result = room.poller().poll_once()
    assert result.error is not None and expected in result.error
    status_now = room.status()
    assert status_now.failures == 1 and expected in _one_line(room)
    assert status_now.next_poll_at is not None and status_now.last_error_at is not None
    assert (status_now.next_poll_at - status_now.last_error_at).total_seconds() == pytest.approx(1.0, rel=0.05)
    assert room.noted() == set() and room.stored() == set()


BAD_ENTRIES = {
    "missing": ({"00080020": {"vr": "DA", "Value": [TODAY]}}, "StudyInstanceUID missing or empty"),
    "no-value": ({"0020000D": {"vr": "UI"}}, "StudyInstanceUID missing or empty"),
    "empty-value": ({"0020000D": {"vr": "UI", "Value": []}}, "StudyInstanceUID missing or empty"),
    "empty-string": (study_entry(""), "StudyInstanceUID missing or empty"),
    "overlong": (study_entry("1." + "2" * 63), "is not a UID"),
    "traversal": (study_entry("../../x"), "StudyInstanceUID '../../x' is not a UID"),
    "slash": (study_entry("1.2/3.4"), "is not a UID"),
    "query": (study_entry("1.2?limit=1&x=#y"), "is not a UID"),
    "nul": (study_entry("1.2.3\x00"), "StudyInstanceUID '1.2.3\\x00' is not a UID"),
    "newline": (study_entry("1.2.3\n"), "is not a UID"),
    "number": (study_entry(1.2), "StudyInstanceUID is a JSON number; expected a UID string"),
    "nested": (study_entry([["1.2.3"]]), "StudyInstanceUID is a JSON array; expected a UID string"),
    "element-string": ({"0020000D": "1.2.3"}, "StudyInstanceUID is a JSON string; expected an object"),
    "value-string": ({"0020000D": {"vr": "UI", "Value": "1.2.3"}}, "StudyInstanceUID is Value is a JSON string"),
    "entry-number": (42, "entry is a JSON number"),
    "entry-list": ([["0020000D"]], "entry is a JSON array"),
}


@pytest.mark.parametrize("bad", list(BAD_ENTRIES))
def test_a_study_entry_with_a_bad_uid_is_skipped_and_named_while_good_studies_are_retrieved(
    room: Room, bad: str
) -> None:
    entry, expected = BAD_ENTRIES[bad]
    first = room.pacs.add(chest())
    room.pacs.entries.append(entry)
    second = room.pacs.add(chest())
    result = room.poller(modalities=("CR",)).poll_once()
    assert room.stored() == {first, second} and len(room.noted()) == 2
    assert (result.found, result.retrieved) == (2, 2)
    assert room.status().failures == 0 and expected in _one_line(room) and "entry 2" in _one_line(room)
    asked = [urlsplit(path).path for path in room.pacs.paths]
    assert all(path.startswith(f"{ROOT}/studies") and ".." not in path for path in asked)


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ({"00080020": {"vr": "DA", "Value": [20240101]}}, "StudyDate is a JSON number; expected a date"),
        ({"00080020": {"vr": "DA", "Value": ["2024-01-01"]}}, "StudyDate '2024-01-01' is not a date"),
        ({"00080020": {"vr": "DA", "Value": ["20241345"]}}, "StudyDate '20241345' is not a date"),
        ({"00080020": {"vr": "DA", "Value": [["20240101"]]}}, "StudyDate is a JSON array"),
        ({"00080020": {"vr": "DA", "Value": "20240101"}}, "StudyDate is Value is a JSON string"),
        ({"00201208": {"vr": "IS", "Value": ["many"]}}, "NumberOfStudyRelatedInstances is 'many'"),
        ({"00201208": {"vr": "IS", "Value": [[1]]}}, "NumberOfStudyRelatedInstances is a JSON array"),
        ({"00201208": {"vr": "IS", "Value": [10**12]}}, "NumberOfStudyRelatedInstances is a JSON number"),
        ({"00201208": {"vr": "IS", "Value": [True]}}, "NumberOfStudyRelatedInstances is a JSON boolean"),
        ({"00201208": [1]}, "NumberOfStudyRelatedInstances is a JSON array; expected an object"),
    ],
    ids=[
        *("date-number", "date-dashes", "date-invalid", "date-nested", "date-value-string"),
        *("count-word", "count-nested", "count-huge", "count-bool", "count-element-list"),
    ],
)
def test_a_study_with_a_wrongly_typed_date_or_count_is_retrieved_and_named(
    room: Room, elements: dict[str, object], expected: str
) -> None:
    dataset = chest()
    uid = str(dataset.StudyInstanceUID)
    sop = room.pacs.add(dataset, entry=study_entry(uid) | elements)
    result = room.poller().poll_once()
    assert room.stored() == {sop} and result.retrieved == 1
    error = _one_line(room)
    assert expected in error and uid in error and room.status().failures == 0
    with room.db.read() as session:
        row = session.scalars(select(DicomwebStudy)).one()
    assert row.study_date in {TODAY, None} and row.number_of_study_related_instances in {None, 1}


def test_a_future_or_malformed_study_date_never_moves_the_cursor_past_today(room: Room) -> None:
    """The rule: the cursor is the newest valid Study Date seen, never later than today; such studies are still retrieved."""
    future, malformed = cr_dataset(StudyDate="99991231"), chest()
    sops = {room.pacs.add(future, entry=study_entry(str(future.StudyInstanceUID), "99991231"))}
    sops.add(room.pacs.add(malformed, entry=study_entry(str(malformed.StudyInstanceUID), "20249999")))
    poller = room.poller(modalities=("CR",), overlap_days=1)
    assert poller.poll_once().retrieved == 2 and room.stored() == sops
    assert room.status().cursor_study_date is None  # neither is a date januscxr can move on to
    assert "StudyDate 99991231 is after today" in _one_line(room)
    sops.add(room.pacs.add(chest()))  # dated today
    poller.poll_once()
    assert room.status().cursor_study_date == TODAY and room.stored() == sops
    room.pacs.paths.clear()
    poller.poll_once()
    since = f"{date.today() - timedelta(days=1):%Y%m%d}-"
    asked = [parse_qs(urlsplit(path).query).get("StudyDate") for path in room.pacs.paths if "/studies?" in path]
    assert asked == [[since]]


def test_a_server_that_sends_the_same_page_again_is_asked_twice(room: Room) -> None:
    page = [{"00100020": {"vr": "LO", "Value": [f"P{n}"]}} for n in range(poller_module.QIDO_PAGE)]
    room.pacs.override = lambda path, query: json_answer(page) if path.endswith("/studies") else None
    result = room.poller(modalities=("CR",)).poll_once()
    assert result.found == 0 and len([p for p in room.pacs.paths if "/studies?" in p]) == 2
    assert "StudyInstanceUID missing or empty" in _one_line(room)


def test_paging_that_never_ends_is_cut_off_after_a_bound(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller_module, "MAX_QIDO_PAGES", 4)
    good = room.pacs.add(chest())

    def endless(path: str, query: dict[str, list[str]]) -> Answer | None:
        if not path.endswith("/studies"):
            return None
        offset = int(query["offset"][0])
        page = [study_entry(f"2.25.{offset + n}x") for n in range(poller_module.QIDO_PAGE - 1)]
        return json_answer([room.pacs.entries[0], *page])  # ever-new garbage around one real study

    room.pacs.override = endless
    started = time.monotonic()
    result = room.poller(modalities=("CR",)).poll_once()
    assert time.monotonic() - started < 10
    assert len([p for p in room.pacs.paths if "/studies?" in p]) == 4
    assert room.stored() == {good} and result.retrieved == 1
    assert "still more after 4 pages" in (result.problem or "") and result.error is None
    assert room.status().failures == 0


@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "undeclared"])
def test_a_huge_qido_answer_is_refused_without_reading_it_all(room: Room, content_length: bool) -> None:
    huge = b"[" + b" " * (50 * 2**20) + b"]"
    answer = Answer(body=huge, content_length=content_length)
    room.pacs.override = lambda path, query: answer if path.endswith("/studies") else None
    result = room.poller().poll_once()
    assert result.error is not None and "expected at most 16777216" in result.error
    assert room.status().failures == 1 and "expected at most" in _one_line(room)


def test_a_qido_answer_that_trickles_is_cut_at_the_timeout(room: Room) -> None:
    room.pacs.override = lambda path, query: (
        Answer(body=b"[", content_length=False, trickle_s=0.05) if path.endswith("/studies") else None
    )
    started = time.monotonic()
    result = room.poller(timeout_s=1.0).poll_once()
    assert time.monotonic() - started < 4  # the whole answer within timeout_s (plus one socket read)
    assert result.error is not None and "not complete within 1 s" in result.error
    assert room.status().failures == 1


def test_a_study_whose_retrieval_trickles_is_failed_and_the_others_are_retrieved(room: Room) -> None:
    slow = chest()
    room.pacs.add(slow)
    good = room.pacs.add(chest())
    slow_path = f"/studies/{slow.StudyInstanceUID}/series/{slow.SeriesInstanceUID}"
    room.pacs.override = lambda path, query: (
        Answer(body=b"--", content_type="multipart/related; boundary=x", content_length=False, trickle_s=0.05)
        if path.endswith(slow_path)
        else None
    )
    started = time.monotonic()
    result = room.poller(timeout_s=1.0).poll_once()
    assert time.monotonic() - started < 6
    assert room.stored() == {good} and result.retrieved == 1
    assert f"retrieval of study {slow.StudyInstanceUID} failed" in _one_line(room)
    with room.db.read() as session:
        failed = session.scalars(select(DicomwebStudy).where(DicomwebStudy.state == "queued")).one()
    assert (
        failed.study_instance_uid == str(slow.StudyInstanceUID) and failed.attempts == 1
    )  # counted: set aside in time


def _not_dicom(dataset: Dataset) -> bytes:
    return b"<html>this is not DICOM</html>"


def _truncated(dataset: Dataset) -> bytes:
    whole = dicom_bytes(dataset)
    return whole[: len(whole) // 2]


def _no_header(dataset: Dataset) -> bytes:
    return b"garbage without a part header"


BAD_PARTS: dict[str, tuple[Callable[[Dataset], bytes], str]] = {
    "not-dicom": (_not_dicom, "not DICOM"),
    "truncated": (_truncated, "(truncated)"),
    "no-pixels": (lambda d: dicom_bytes(_without_pixels(d)), "no Pixel Data"),
    "other-study": (lambda d: dicom_bytes(chest(SeriesInstanceUID=d.SeriesInstanceUID)), "StudyInstanceUID is"),
}


def _without_pixels(dataset: Dataset) -> Dataset:
    del dataset.PixelData
    return dataset


@pytest.mark.parametrize("bad", list(BAD_PARTS))
def test_a_bad_wado_part_is_not_stored_and_the_good_instances_and_studies_are(room: Room, bad: str) -> None:
    corrupt, expected = BAD_PARTS[bad]
    broken = chest()
    same_series = {key: broken.get(key) for key in ("StudyInstanceUID", "SeriesInstanceUID", "PatientID")}
    room.pacs.add(broken, part=corrupt(broken.copy()))
    sibling = room.pacs.add(chest(**same_series))
    other = room.pacs.add(chest())
    result = room.poller().poll_once()
    assert room.stored() == {sibling, other} and result.retrieved == 2 and result.instances == 2
    error = _one_line(room)
    assert expected in error and str(broken.StudyInstanceUID) in error and room.status().failures == 0


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"Modality": "CT", "SOPClassUID": CTImageStorage}, f"SOP Class is {CTImageStorage}"),
        ({"Modality": "MG"}, "Modality is MG; expected one of CR, DX"),
    ],
    ids=["ct-class", "mg-modality"],
)
def test_an_instance_of_another_sop_class_or_modality_is_skipped(
    room: Room, attributes: dict[str, object], expected: str
) -> None:
    other = chest(**attributes)
    other.file_meta.MediaStorageSOPClassUID = other.SOPClassUID
    room.pacs.add(other)
    good = room.pacs.add(chest())
    result = room.poller().poll_once()
    assert room.stored() == {good} and result.retrieved == 2
    assert expected in _one_line(room)
    with room.db.read() as session:
        skipped = list(session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "dicomweb_skipped")))
    assert [detail["reason"] for detail in skipped] == [expected if "Modality" in expected else skipped[0]["reason"]]


def test_an_instance_other_than_the_one_listed_is_not_stored(room: Room) -> None:
    first = chest()
    held = room.pacs.add(first)
    poller = room.poller()
    assert poller.poll_once().instances == 1
    same = {key: first.get(key) for key in ("StudyInstanceUID", "SeriesInstanceUID", "PatientID")}
    impostor = chest(**same)
    listed = room.pacs.add(chest(**same), part=dicom_bytes(impostor))  # QIDO lists one, WADO sends another
    result = poller.poll_once()
    assert (result.requeued, result.instances) == (1, 0) and room.stored() == {held}
    error = _one_line(room)
    assert f"SOPInstanceUID is {impostor.SOPInstanceUID}; expected {listed}" in error


def test_a_connection_reset_mid_body_stores_nothing_of_that_study(room: Room) -> None:
    broken = chest()
    room.pacs.add(broken)
    good = room.pacs.add(chest())
    path = f"/studies/{broken.StudyInstanceUID}/series/{broken.SeriesInstanceUID}"

    def reset(request_path: str, query: dict[str, list[str]]) -> Answer | None:
        if not request_path.endswith(path):
            return None
        whole = multipart([dicom_bytes(broken)])
        return Answer(body=whole.body, content_type=whole.content_type, reset_after=len(whole.body) // 2)

    room.pacs.override = reset
    result = room.poller().poll_once()
    assert room.stored() == {good} and result.retrieved == 1
    assert f"retrieval of study {broken.StudyInstanceUID} failed" in _one_line(room)


def test_a_qido_connection_reset_fails_the_poll(room: Room) -> None:
    room.pacs.add(chest())
    body = json.dumps(room.pacs.entries).encode()
    reset = Answer(body=body, reset_after=len(body) // 2)
    room.pacs.override = lambda path, query: reset if path.endswith("/studies") else None
    result = room.poller().poll_once()
    assert result.error is not None and room.status().failures == 1 and room.stored() == set()


@pytest.mark.parametrize("where", ["qido", "wado"])
def test_401_then_200_retrieves_on_the_next_poll(room: Room, where: str) -> None:
    dataset = chest()
    sop = room.pacs.add(dataset)
    refused = {"count": 0}

    def once_unauthorized(path: str, query: dict[str, list[str]]) -> Answer | None:
        wanted = path.endswith("/studies") if where == "qido" else str(dataset.SeriesInstanceUID) in path
        if wanted and refused["count"] == 0:
            refused["count"] += 1
            return Answer(401, b"<html>who are you</html>", "text/html", reason="Unauthorized")
        return None

    room.pacs.override = once_unauthorized
    poller = room.poller()
    first = poller.poll_once()
    assert first.error is not None and "HTTP 401 Unauthorized" in first.error
    assert room.status().failures == 1 and "HTTP 401" in _one_line(room) and room.stored() == set()
    second = poller.poll_once()
    assert (second.error, second.retrieved) == (None, 1) and room.stored() == {sop}
    assert room.status().failures == 0
    with room.db.read() as session:
        assert session.scalars(select(DicomwebStudy.attempts)).one() == 1  # the server's 401 was not the study's fault


@pytest.fixture
def token_pacs() -> Iterator[FakePacs]:
    yield from _serve(FakePacs(token=TOKEN))


def test_a_server_echoing_the_token_never_gets_it_into_logs_or_errors(
    token_pacs: FakePacs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    room = Room(data_dir, open_database(f"sqlite:///{data_dir / 'januscxr.db'}"), token_pacs)
    dataset = chest()
    room.pacs.add(dataset)
    echo = f"Bearer {TOKEN}"
    calls = {"n": 0}

    def echoing(path: str, query: dict[str, list[str]]) -> Answer | None:
        calls["n"] += 1
        if calls["n"] == 1:
            return Answer(401, echo.encode(), "text/plain", reason=f"Denied {echo}", headers={"Warning": echo})
        if path.endswith("/studies"):
            answer = json_answer(room.pacs.entries)
            answer.headers["Warning"] = f'299 pacs "more results; you sent {echo}"'
            return answer
        return None

    room.pacs.override = echoing
    poller = room.poller(token=TOKEN)
    results: list[PollResult] = [poller.poll_once(), poller.poll_once()]
    errors = room.errors()
    room.db.dispose()
    assert results[0].error is not None and "***" in results[0].error and results[1].retrieved == 1
    assert "more results" in caplog.text  # dicomweb-client logs the Warning header: scrubbed
    for secret in SECRETS:
        assert secret not in caplog.text and not [e for e in errors if secret in e]
        assert secret not in (results[0].error or "")
