"""The DICOMweb poller: finds new CR/DX studies on a PACS by QIDO-RS and retrieves them by WADO-RS.

Each poll asks for studies whose Modalities in Study include each configured modality, dated
from the server's cursor (the newest Study Date seen, kept in the database) minus an overlap,
since QIDO-RS has no "received since". Every study found is noted once (storage.dicomweb) and
retrieved under a claim, so no study is retrieved twice across restarts or by two pollers. A
retrieved study that a later poll finds with more Number of Study Related Instances (a late
image, a repeat view) is claimed again, and only the instances januscxr lacks are fetched (QIDO-RS
instance query, then WADO-RS one by one), so that study completion reads them. A
claimed study's series are queried with the series filters (Modality, Body Part Examined,
Station Name, Institution Name); only matching series are retrieved, instance by instance,
each handed to the same :class:`~januscxr.pacs.listener.Receiver` as the DICOM listener's
(``calling_ae_title`` is the server's name). A failed poll is retried with exponential backoff
(capped); the server's status is kept in the database for the admin page. The poller imports
no server code: the server wires the receiver.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from januscxr.errors import ConfigurationError
from januscxr.pacs.conformance import RADIOGRAPH_SOP_CLASSES
from januscxr.pacs.listener import Disposition, Receiver
from januscxr.storage import dicomweb as state
from januscxr.storage.database import Database
from januscxr.storage.tables import utcnow

logger = logging.getLogger(__name__)

QIDO_PAGE = 100  # studies asked for per QIDO-RS request
STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, STUDY_DATE = "0020000D", "0020000E", "00080020"
SOP_INSTANCE_UID, NUMBER_OF_STUDY_RELATED_INSTANCES = "00080018", "00201208"
_SERVER_STATUSES = frozenset({401, 403, 407, 408, 429})  # and 5xx: the server, not the study, failed


@dataclass(frozen=True)
class DicomwebConfig:
    """One DICOMweb server to poll; ``url`` is its DICOMweb root (e.g. ``https://pacs/dicom-web``)."""

    url: str
    name: str = "pacs"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    poll_s: float = 30.0
    timeout_s: float = 30.0
    modalities: tuple[str, ...] = ("CR", "DX")
    body_part: str | None = "CHEST"
    station: str | None = None
    institution: str | None = None
    overlap_days: int = 1
    max_attempts: int = state.DEFAULT_MAX_ATTEMPTS
    lease_s: float = state.DEFAULT_LEASE_S
    backoff_cap_s: float = 600.0

    def series_filters(self, modality: str) -> dict[str, str]:
        """The QIDO-RS series query of one modality, with the configured optional filters."""
        optional = {
            "BodyPartExamined": self.body_part,
            "StationName": self.station,
            "InstitutionName": self.institution,
        }
        return {"Modality": modality} | {key: value for key, value in optional.items() if value}


@dataclass(frozen=True)
class PollResult:
    """What one poll did; ``error`` says why it stopped early (then retried with backoff)."""

    found: int = 0
    new: int = 0
    requeued: int = 0  # retrieved before, grown since
    retrieved: int = 0
    instances: int = 0
    error: str | None = None


class DicomwebPoller:
    """Polls one DICOMweb server every ``config.poll_s`` seconds (:meth:`start`) or once (:meth:`poll_once`)."""

    def __init__(self, config: DicomwebConfig, receiver: Receiver, db: Database, *, staging_dir: Path) -> None:
        self.config = check_config(config)
        self.client = dicomweb_client(self.config)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._receiver, self._db, self._staging_dir = receiver, db, staging_dir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Poll in a background thread until :meth:`stop`."""
        self._prepare_staging()
        self._thread = threading.Thread(target=self._loop, name=f"januscxr-dicomweb-{self.config.name}", daemon=True)
        self._thread.start()
        logger.info(
            "DICOMweb poller %s: polling %s every %g s", self.config.name, _shown(self.config.url), self.config.poll_s
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=self.config.timeout_s + 10)
        self._thread = None

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll_once(self) -> PollResult:
        """Query, note the new studies, retrieve every claimable one; failures are recorded, not raised."""
        self._prepare_staging()
        name = self.config.name
        try:
            found = self._find_studies()
        except _RETRIABLE as error:
            return self._failed(PollResult(), f"QIDO-RS query failed: {describe_error(error)}")
        with self._db.write() as session:
            new = state.note_studies(session, name, found)
            requeued = state.requeue_grown_studies(session, name, found)
        result = PollResult(found=len(found), new=new, requeued=requeued)
        while not self._stop.is_set():
            with self._db.write() as session:
                claim = state.claim_study(
                    session, name, self.owner, lease_s=self.config.lease_s, max_attempts=self.config.max_attempts
                )
            if claim is None:
                break
            instances, server_error = self._retrieve_claimed(claim)
            if server_error is not None:
                return self._failed(result, server_error)
            result = replace(result, retrieved=result.retrieved + 1, instances=result.instances + instances)
        dates = [parsed for study in found if (parsed := _parse_date(study.study_date)) is not None]
        newest = min(max(dates), date.today()) if dates else None  # a future-dated study never moves it on
        cursor = f"{newest:%Y%m%d}" if newest else None
        with self._db.write() as session:
            next_poll_at = utcnow() + timedelta(seconds=self.config.poll_s)
            state.record_poll(session, name, cursor_study_date=cursor, next_poll_at=next_poll_at)
        return result

    def _find_studies(self) -> list[state.FoundStudy]:
        with self._db.read() as session:
            cursor = state.server_cursor(session, self.config.name)
        today, seen = date.today(), _parse_date(cursor)
        newest = min(today, seen) if seen else today
        since = newest - timedelta(days=self.config.overlap_days)
        found: dict[str, state.FoundStudy] = {}
        for modality in self.config.modalities:
            for study in self._search_studies({"ModalitiesInStudy": modality, "StudyDate": f"{since:%Y%m%d}-"}):
                uid = _first(study, STUDY_INSTANCE_UID)
                if uid:
                    count = _parse_count(_first(study, NUMBER_OF_STUDY_RELATED_INSTANCES))
                    found.setdefault(uid, state.FoundStudy(uid, _first(study, STUDY_DATE), count))
        return list(found.values())

    def _search_studies(self, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every page of a QIDO-RS study query (a server that ignores ``offset`` stops at the first repeat)."""
        offset, seen = 0, set[str | None]()
        while True:
            page = self.client.search_for_studies(
                search_filters=filters, fields=["NumberOfStudyRelatedInstances"], limit=QIDO_PAGE, offset=offset
            )
            uids = {_first(study, STUDY_INSTANCE_UID) for study in page}
            if not page or uids <= seen:
                return
            seen |= uids
            yield from page
            if len(page) < QIDO_PAGE:
                return
            offset += len(page)

    def _retrieve_claimed(self, claim: state.ClaimedStudy) -> tuple[int, str | None]:
        """Retrieve one claimed study; (instances stored, the server's error or None)."""
        try:
            instances, refused = self._retrieve(claim.study_instance_uid)
        except Exception as error:  # one study must never stop the poller
            message = f"retrieval failed: {describe_error(error)}"
            server_failed = _is_server_failure(error)
            if not server_failed:
                logger.warning(
                    "DICOMweb %s: study retrieval failed (attempt %d): %s", claim.server_name, claim.attempt, message
                )
            with self._db.write() as session:
                retry_in_s = state.backoff_s(claim.attempt, base_s=self.config.poll_s, cap_s=self.config.backoff_cap_s)
                state.fail_study(
                    session,
                    claim,
                    message,
                    retry_in_s=0.0 if server_failed else retry_in_s,
                    max_attempts=self.config.max_attempts,
                    counted=not server_failed,
                )
            return 0, message if server_failed else None
        note = f"{len(refused)} instance(s) refused: {refused[0]}" if refused else None
        try:
            with self._db.write() as session:
                state.finish_study(session, claim, instances=instances, note=note)
        except state.StudyClaimLostError as error:  # the lease ran out; ingest de-duplicated anything stored twice
            logger.warning("DICOMweb %s: %s", claim.server_name, error)
        return instances, None

    def _retrieve(self, study_instance_uid: str) -> tuple[int, list[str]]:
        with self._db.read() as session:
            held = state.stored_instance_uids(session, study_instance_uid)
        stored, refused, series_seen = 0, list[str](), set[str]()
        for modality in self.config.modalities:
            filters = self.config.series_filters(modality)
            for series in self.client.search_for_series(study_instance_uid=study_instance_uid, search_filters=filters):
                series_uid = _first(series, SERIES_INSTANCE_UID)
                if not series_uid or series_uid in series_seen:
                    continue
                series_seen.add(series_uid)
                for dataset in self._instances(study_instance_uid, series_uid, held):
                    detail = self._hand_over(dataset)
                    stored += detail is None
                    refused += [detail] if detail else []
        return stored, refused

    def _instances(self, study_instance_uid: str, series_instance_uid: str, held: set[str]) -> Iterator[Dataset]:
        """A series' instances in one request; only those not in ``held``, one by one, when januscxr holds some."""
        if not held:
            yield from self.client.iter_series(study_instance_uid, series_instance_uid)
            return
        listed = self.client.search_for_instances(
            study_instance_uid=study_instance_uid, series_instance_uid=series_instance_uid, get_remaining=True
        )
        for instance in listed:
            sop_instance_uid = _first(instance, SOP_INSTANCE_UID)
            if sop_instance_uid and sop_instance_uid not in held:
                yield self.client.retrieve_instance(study_instance_uid, series_instance_uid, sop_instance_uid)

    def _hand_over(self, dataset: Dataset) -> str | None:
        """Give one retrieved instance to the receiver; None when stored (or already), else why not."""
        sop_class = str(dataset.get("SOPClassUID", ""))
        if sop_class not in RADIOGRAPH_SOP_CLASSES:
            reason = f"SOP Class is {sop_class or 'missing'}; expected CR or DX Image Storage"
            self._receiver.skip(calling_ae_title=self.config.name, reason=reason)
            return reason
        staged = self._staging_dir / f"{uuid.uuid4().hex}.dcm"
        try:
            with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as writer:
                dataset.save_as(writer, enforce_file_format=True)
            name = f"{dataset.get('SOPInstanceUID', staged.stem)}.dcm"
            result = self._receiver.store(staged, name=name, calling_ae_title=self.config.name)
        finally:
            staged.unlink(missing_ok=True)
        if result.disposition is Disposition.REFUSED:
            return result.detail or "refused"
        return None

    def _failed(self, result: PollResult, message: str) -> PollResult:
        with self._db.write() as session:
            next_poll_at = state.record_poll_failure(
                session, self.config.name, message, base_s=self.config.poll_s, cap_s=self.config.backoff_cap_s
            )
        wait_s = (next_poll_at - utcnow()).total_seconds()
        logger.warning("DICOMweb %s: %s; next try in %.0f s", self.config.name, message, wait_s)
        return replace(result, error=message)

    def _prepare_staging(self) -> None:
        if not self._staging_dir.is_dir():
            self._staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _loop(self) -> None:
        wait_s = self._seconds_to_next_poll()  # a backoff from before a restart still holds
        while not self._stop.wait(wait_s):
            try:
                self.poll_once()
                wait_s = self._seconds_to_next_poll()
            except Exception:  # e.g. the database is down: try again after one interval
                logger.exception("DICOMweb %s: poll failed", self.config.name)
                wait_s = self.config.poll_s

    def _seconds_to_next_poll(self) -> float:
        try:
            with self._db.read() as session:
                next_poll_at = state.next_poll_at(session, self.config.name)
        except Exception:  # the database is down: try again after one interval
            return self.config.poll_s
        if next_poll_at is None:  # never polled
            return 0.0
        wait_s = (next_poll_at - utcnow()).total_seconds()
        return min(max(wait_s, 0.0), max(self.config.backoff_cap_s, self.config.poll_s))


def check_config(config: DicomwebConfig) -> DicomwebConfig:
    """``config`` when usable; ConfigurationError naming the setting otherwise."""
    parts = urlsplit(config.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"dicomweb_url: {_shown(config.url)!r} is not a URL; expected http(s)://host/path")
    if parts.username or parts.password:
        raise ConfigurationError("dicomweb_url: holds credentials; expected them in dicomweb_username/password")
    if config.token and (config.username or config.password):
        raise ConfigurationError("dicomweb_token: set with dicomweb_username/password; expected one of the two")
    if not config.modalities or not all(m.isalnum() and len(m) <= 16 for m in config.modalities):
        raise ConfigurationError(f"dicomweb_modalities: {list(config.modalities)}; expected codes such as CR, DX")
    if not 1 <= len(config.name) <= 64:
        raise ConfigurationError(f"dicomweb_name: {len(config.name)} characters; expected 1-64")
    return config


def dicomweb_client(config: DicomwebConfig) -> DICOMwebClient:
    """A client with basic or bearer authentication, the timeout, and no retries of its own
    (the poller retries, with a backoff that outlives a restart)."""
    session = requests.Session()
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.username:
        session.auth = (config.username, config.password or "")
    client = DICOMwebClient(config.url, session=session, timeout=config.timeout_s)
    client.set_http_retry_params(retry=False)
    return client


def describe_error(error: BaseException) -> str:
    """One line about a failed request, without credentials or patient data."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        response = error.response
        return f"HTTP {response.status_code} {response.reason} from {_shown(response.url)}"
    if isinstance(error, requests.Timeout):
        return f"no answer within the timeout ({type(error).__name__})"
    if isinstance(error, requests.ConnectionError):
        return f"cannot connect ({type(error).__name__})"
    return f"{type(error).__name__}: {str(error)[:200]}"


_RETRIABLE = (requests.RequestException, ValueError)  # ValueError: an answer that is not DICOM JSON


def _is_server_failure(error: BaseException) -> bool:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        return status in _SERVER_STATUSES or status >= 500
    return isinstance(error, (requests.ConnectionError, requests.Timeout))


def _shown(url: str) -> str:
    """A URL without its query (which may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _first(item: dict[str, Any], tag: str) -> str | None:
    values = item.get(tag, {}).get("Value") or [None]
    return str(values[0]) if values[0] is not None else None


def _parse_count(value: str | None) -> int | None:
    """A DICOM IS as an int; None when absent or malformed."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_date(value: str | None) -> date | None:
    """A DICOM DA (YYYYMMDD) as a date; None when absent or malformed."""
    if value is None or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None
