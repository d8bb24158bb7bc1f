"""What a DICOMweb server answers, not trusted: HTTP answers bounded in time and size and scrubbed
of secrets, DICOM JSON attributes and retrieved instances checked before use.

requests applies its timeout to each socket read, so a server that trickles one byte at a time
never times out, and it reads a body of any size into memory. :class:`BoundedSession` reads
each body itself, one socket read at a time, and gives up when the whole answer took longer
than ``timeout_s`` (so at most about twice ``timeout_s`` in all, the last read included) or grew
past its limit (``MAX_JSON_BYTES`` for QIDO-RS, ``MAX_DICOM_BYTES`` for WADO-RS); a QIDO-RS
answer that is not JSON (an HTML error page sent with 200) is refused by its Content-Type. The
password or token never comes back in a reason phrase or Warning header, where a careless server
may echo the request's Authorization header and dicomweb-client logs it. The ``*_of`` functions
read one attribute of a QIDO-RS entry and say, on one line, what is wrong with it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import date
from typing import Any, NamedTuple

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import RE_VALID_UID

from januscxr.errors import JanusCxrError

MAX_JSON_BYTES = 16 * 2**20  # a QIDO-RS page of 100 studies is about 100 kB
MAX_DICOM_BYTES = 2**30  # a WADO-RS series: a few radiographs of up to ~50 MB each
_READ_BYTES = 2**16


class DicomwebAnswerError(JanusCxrError):
    """An answer of a DICOMweb server that januscxr refuses: too slow, too large, or not what was asked."""


class BoundedSession(requests.Session):
    """A requests session whose answers must be complete within ``timeout_s`` and a size limit."""

    def __init__(self, timeout_s: float, *, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.secrets = tuple(secret for secret in secrets if secret)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        streamed = bool(kwargs.pop("stream", False))
        deadline = time.monotonic() + self.timeout_s
        accept = str((kwargs.get("headers") or {}).get("Accept", ""))
        is_json = "json" in accept and "multipart" not in accept
        response = super().request(method, url, *args, **(kwargs | {"stream": True}))  # type: ignore[arg-type]
        response.reason = scrub(response.reason or "", self.secrets)
        if "Warning" in response.headers:
            response.headers["Warning"] = scrub(response.headers["Warning"], self.secrets)
        try:
            limit = MAX_JSON_BYTES if is_json else MAX_DICOM_BYTES
            what = "QIDO-RS answer" if is_json else "WADO-RS answer"
            _check_length(response, what, limit)
            response.raw.stream = _bounded_reads(
                response, what, deadline=deadline, timeout_s=self.timeout_s, limit=limit
            )
            if not streamed or is_json:
                _ = response.content  # read now, within the bounds
            if is_json and response.ok and response.content:
                _check_json_type(response)
        except BaseException:
            response.close()
            raise
        return response


def basic_credentials(username: str, password: str) -> str:
    """The Authorization value of HTTP basic authentication, to scrub from what a server echoes."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _check_length(response: requests.Response, what: str, limit: int) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise DicomwebAnswerError(f"{what}: Content-Length {int(declared)} bytes; expected at most {limit}")


def _check_json_type(response: requests.Response) -> None:
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not media_type.endswith("json"):
        raise DicomwebAnswerError(
            f"QIDO-RS answer: Content-Type {media_type[:60] or 'missing'!r}; expected application/dicom+json"
        )


def _bounded_reads(response: requests.Response, what: str, *, deadline: float, timeout_s: float, limit: int) -> Any:
    """A replacement for ``response.raw.stream`` (which requests reads the body from) that reads
    one socket read at a time and stops at the deadline or the size limit."""
    raw = response.raw

    def stream(amt: int | None = _READ_BYTES, decode_content: bool | None = None) -> Iterator[bytes]:
        total = 0
        while True:
            chunk = raw.read1(min(amt or _READ_BYTES, _READ_BYTES), decode_content=decode_content)
            if not chunk:
                return
            total += len(chunk)
            if total > limit:
                raise DicomwebAnswerError(f"{what}: more than {limit} bytes; expected at most {limit}")
            if time.monotonic() > deadline:
                raise DicomwebAnswerError(
                    f"{what}: not complete within {timeout_s:g} s "
                    f"({total} bytes so far); expected all of it within dicomweb_timeout_s"
                )
            yield chunk

    return stream


class Asked(NamedTuple):
    """What a WADO-RS request asked for; the SOP Instance UID when one instance was asked for."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str | None = None


def json_kind(value: object) -> str:
    """The JSON type of a decoded value, for messages."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _quoted(value: str) -> str:
    """A server's string for a one-line message: escaped, at most 70 characters."""
    shown = ascii(value[:64])
    return shown + ("..." if len(value) > 64 else "")


def dicom_json_value(item: object, tag: str) -> tuple[object, str | None]:
    """The first value of ``tag`` in a DICOM JSON data set (None when absent or empty), or why it cannot be read."""
    if not isinstance(item, dict):
        return None, f"a JSON {json_kind(item)}; expected a DICOM JSON object"
    element = item.get(tag)
    if element is None:
        return None, None
    if not isinstance(element, dict):
        return None, f"a JSON {json_kind(element)}; expected an object with vr and Value"
    values = element.get("Value")
    if values is None or values == []:
        return None, None
    if not isinstance(values, list):
        return None, f"Value is a JSON {json_kind(values)}; expected an array"
    return values[0], None


def uid_of(item: object, tag: str, keyword: str) -> tuple[str | None, str | None]:
    """A UID attribute of a DICOM JSON data set, or (None, why not)."""
    value, problem = dicom_json_value(item, tag)
    if problem is not None:
        return None, f"{keyword} is {problem}" if isinstance(item, dict) else f"entry is {problem}"
    if value is None or value == "":
        return None, f"{keyword} missing or empty"
    if not isinstance(value, str):
        return None, f"{keyword} is a JSON {json_kind(value)}; expected a UID string"
    if len(value) > 64 or not RE_VALID_UID.fullmatch(value):
        return None, f"{keyword} {_quoted(value)} is not a UID; expected digits and dots, at most 64 characters"
    return value, None


def study_date_of(item: object, today: date) -> tuple[str | None, str | None]:
    """A study's Study Date when valid (or absent), else (None, why); a future date is kept but named."""
    value, problem = dicom_json_value(item, "00080020")
    if problem is not None:
        return None, f"StudyDate is {problem}; retrieved, the cursor not moved by it"
    if value is None:
        return None, None
    if not isinstance(value, str):
        return (
            None,
            f"StudyDate is a JSON {json_kind(value)}; expected a date (YYYYMMDD); retrieved, the cursor not moved by it",
        )
    if parse_date(value) is None:
        return None, f"StudyDate {_quoted(value)} is not a date (YYYYMMDD); retrieved, the cursor not moved by it"
    if value > f"{today:%Y%m%d}":
        return value, f"StudyDate {value} is after today; retrieved, the cursor not moved by it"
    return value, None


def count_of(item: object) -> tuple[int | None, str | None]:
    """A study's Number of Study Related Instances (DICOM JSON IS: a number or a string), or (None, why)."""
    value, problem = dicom_json_value(item, "00201208")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if problem is None and (value is None or (type(value) is int and 0 <= value < 2**31)):
        return value, None
    shown = problem or (_quoted(value) if isinstance(value, str) else f"a JSON {json_kind(value)} ({str(value)[:20]})")
    return None, f"NumberOfStudyRelatedInstances is {shown}; expected a count"


def not_as_asked(dataset: Dataset, asked: Asked) -> str | None:
    """Why a retrieved instance is not the one asked for (Study, Series, SOP Instance UID), or None."""
    expected = (
        ("StudyInstanceUID", asked.study_instance_uid),
        ("SeriesInstanceUID", asked.series_instance_uid),
        ("SOPInstanceUID", asked.sop_instance_uid),
    )
    for keyword, wanted in expected:
        value = str(dataset.get(keyword, "") or "")
        if len(value) > 64 or not RE_VALID_UID.fullmatch(value):
            return f"a retrieved instance's {keyword} {_quoted(value)} is not a UID; expected one"
        if wanted is not None and value != wanted:
            return f"a retrieved instance's {keyword} is {value}; expected {wanted}, as asked"
    return None


def pixel_data_problem(dataset: Dataset) -> str | None:
    """Why an instance's Pixel Data is unusable (missing, or shorter than Rows x Columns x ... say), or None."""
    if "PixelData" not in dataset:
        return "no Pixel Data; expected an image"
    if dataset.file_meta.get("TransferSyntaxUID") is not None and dataset.file_meta.TransferSyntaxUID.is_compressed:
        return None  # encapsulated: its fragments are checked when decoded
    try:
        expected = int(get_expected_length(dataset))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return f"image attributes unusable ({describe_part(error)})"
    received = len(dataset.PixelData)
    if received < expected:
        return f"Pixel Data is {received} bytes; expected {expected} (truncated)"
    return None


def describe_part(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"


def parse_date(value: str | None) -> date | None:
    """A DICOM DA (YYYYMMDD) as a date; None when absent or malformed."""
    if value is None or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def authorised_client(
    url: str,
    session: requests.Session,
    *,
    token: str | None,
    username: str | None,
    password: str | None,
    timeout_s: float,
) -> DICOMwebClient:
    """A DICOMweb client on ``session`` with bearer (else basic) authentication and the timeout,
    without retries of its own: the poller and the outbox retry with their own backoff."""
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif username:
        session.auth = (username, password or "")
    client = DICOMwebClient(url, session=session, timeout=timeout_s)
    client.set_http_retry_params(retry=False)
    return client
