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

A server's answers are not trusted: each HTTP answer is bounded in time and size
(:mod:`~januscxr.pacs.dicomweb_answers`), paging stops after ``MAX_QIDO_PAGES``, a study or series
whose UID is not a DICOM UID is skipped, and a retrieved instance is stored only when it is the
one asked for (Study, Series and SOP Instance UID), of a radiograph SOP class and modality, with
all its Pixel Data. Each such problem is one line in the server's status (a successful poll keeps
the first and counts the rest); good studies of the same poll are still retrieved. The cursor is
the newest valid Study Date seen that is not after today: a study dated in the future or
malformed is retrieved but never moves the cursor.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from januscxr.errors import ConfigurationError
from januscxr.pacs.conformance import RADIOGRAPH_SOP_CLASSES
from januscxr.pacs.dicomweb_answers import (
    Asked,
    BoundedSession,
    DicomwebAnswerError,
    authorised_client,
    basic_credentials,
    count_of,
    describe_part,
    dicom_json_value,
    json_kind,
    not_as_asked,
    parse_date,
    pixel_data_problem,
    scrub,
    study_date_of,
    uid_of,
)
from januscxr.pacs.listener import Disposition, Receiver
from januscxr.storage import dicomweb as state
from januscxr.storage.database import Database
from januscxr.storage.tables import utcnow

logger = logging.getLogger(__name__)

QIDO_PAGE = 100  # studies asked for per QIDO-RS request
MAX_QIDO_PAGES = 50  # per query: a server that pages on and on is cut off there
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
    problem: str | None = None  # what the server answered wrong in a poll that went on (first one, and a count)


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
        name, problems = self.config.name, list[str]()
        with self._db.read() as session:
            cursor = state.server_cursor(session, name)
        try:
            found = self._find_studies(cursor, problems)
        except Exception as error:  # whatever the server answered, the poller goes on (with backoff)
            return self._failed(PollResult(), f"QIDO-RS query failed: {self._describe(error)}")
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
            instances, server_error = self._retrieve_claimed(claim, problems)
            if server_error is not None:
                return self._failed(result, server_error)
            if instances is not None:
                result = replace(result, retrieved=result.retrieved + 1, instances=result.instances + instances)
        today = date.today()  # a study dated in the future never moves the cursor: its date is not to be trusted
        dates = [day for study in found if (day := parse_date(study.study_date)) is not None and day <= today]
        newest = max(dates) if dates else None
        problem = _summary(problems)
        if problem:
            logger.warning("DICOMweb %s: %s", name, problem)
        with self._db.write() as session:
            next_poll_at = utcnow() + timedelta(seconds=self.config.poll_s)
            cursor = f"{newest:%Y%m%d}" if newest else None
            state.record_poll(session, name, cursor_study_date=cursor, next_poll_at=next_poll_at, problem=problem)
        return replace(result, problem=problem)

    def _find_studies(self, cursor: str | None, problems: list[str]) -> list[state.FoundStudy]:
        today, seen = date.today(), parse_date(cursor)
        newest = min(today, seen) if seen else today
        since = newest - timedelta(days=self.config.overlap_days)
        found: dict[str, state.FoundStudy] = {}
        for modality in self.config.modalities:
            filters = {"ModalitiesInStudy": modality, "StudyDate": f"{since:%Y%m%d}-"}

            def search(offset: int, filters: dict[str, str] = filters) -> object:
                fields = ["NumberOfStudyRelatedInstances"]
                return self.client.search_for_studies(
                    search_filters=filters, fields=fields, limit=QIDO_PAGE, offset=offset
                )

            for position, study in enumerate(self._pages(search, STUDY_INSTANCE_UID, f"{modality} studies", problems)):
                uid, problem = uid_of(study, STUDY_INSTANCE_UID, "StudyInstanceUID")
                if uid is None:
                    problems.append(f"QIDO-RS {modality} studies, entry {position + 1}: {problem}; skipped")
                    continue
                study_date, date_problem = study_date_of(study, today)
                count, count_problem = count_of(study)
                problems += [f"study {uid}: {p}" for p in (date_problem, count_problem) if p]
                found.setdefault(uid, state.FoundStudy(uid, study_date, count))
        return list(found.values())

    def _pages(self, search: Callable[[int], object], tag: str, what: str, problems: list[str]) -> Iterator[object]:
        """Every page of a QIDO-RS query, at most ``MAX_QIDO_PAGES`` of them (a server that ignores
        ``offset`` stops at the first repeat)."""
        offset, seen = 0, set[str]()
        for _ in range(MAX_QIDO_PAGES):
            page = search(offset)
            if not isinstance(page, list):
                raise DicomwebAnswerError(f"QIDO-RS {what}: a JSON {json_kind(page)}; expected an array of data sets")
            keys = {repr(dicom_json_value(item, tag)[0]) for item in page}
            if not page or keys <= seen:
                return
            seen |= keys
            yield from page
            if len(page) < QIDO_PAGE:
                return
            offset += len(page)
        problems.insert(0, f"QIDO-RS {what}: still more after {MAX_QIDO_PAGES} pages of {QIDO_PAGE}; stopped there")

    def _retrieve_claimed(self, claim: state.ClaimedStudy, problems: list[str]) -> tuple[int | None, str | None]:
        """Retrieve one claimed study; (instances stored or None when it failed, the server's error or None)."""
        try:
            instances, refused = self._retrieve(claim.study_instance_uid)
        except Exception as error:  # one study must never stop the poller
            message = f"retrieval of study {claim.study_instance_uid} failed: {self._describe(error)}"
            server_failed = _is_server_failure(error)
            if not server_failed:
                logger.warning("DICOMweb %s: %s (attempt %d)", claim.server_name, message, claim.attempt)
                problems.append(message)
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
            return None, message if server_failed else None
        note = f"{len(refused)} instance(s) refused: {refused[0]}" if refused else None
        if note:
            problems.append(f"study {claim.study_instance_uid}: {note}")
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
            answer = self.client.search_for_series(study_instance_uid=study_instance_uid, search_filters=filters)
            if not isinstance(answer, list):
                raise DicomwebAnswerError(f"QIDO-RS series: a JSON {json_kind(answer)}; expected an array of data sets")
            for position, series in enumerate(answer):
                series_uid, problem = uid_of(series, SERIES_INSTANCE_UID, "SeriesInstanceUID")
                if series_uid is None:
                    refused.append(f"QIDO-RS series, entry {position + 1}: {problem}; skipped")
                    continue
                if series_uid in series_seen:
                    continue
                series_seen.add(series_uid)
                for asked, dataset in self._instances(study_instance_uid, series_uid, held, refused):
                    detail = self._hand_over(dataset, asked)
                    stored += detail is None
                    refused += [detail] if detail else []
        return stored, refused

    def _instances(
        self, study_instance_uid: str, series_instance_uid: str, held: set[str], refused: list[str]
    ) -> Iterator[tuple[Asked, Dataset]]:
        """A series' instances in one request; only those not in ``held``, one by one, when januscxr
        holds some or the one answer holds a part that is not DICOM."""
        if not held:
            handed = set[str]()
            try:
                for dataset in self.client.iter_series(study_instance_uid, series_instance_uid):
                    handed.add(str(dataset.get("SOPInstanceUID", "")))
                    yield Asked(study_instance_uid, series_instance_uid), dataset
                return
            except (requests.RequestException, DicomwebAnswerError):
                raise
            except Exception as error:  # a part that is not DICOM: take the others one by one
                refused.append(f"series {series_instance_uid}: a part is not DICOM ({describe_part(error)})")
                held = held | handed
        for instance in self._pages(
            lambda offset: self.client.search_for_instances(
                study_instance_uid=study_instance_uid,
                series_instance_uid=series_instance_uid,
                limit=QIDO_PAGE,
                offset=offset,
            ),
            SOP_INSTANCE_UID,
            f"instances of series {series_instance_uid}",
            refused,
        ):
            sop_instance_uid, problem = uid_of(instance, SOP_INSTANCE_UID, "SOPInstanceUID")
            if sop_instance_uid is None:
                refused.append(f"series {series_instance_uid}: QIDO-RS instance {problem}; skipped")
            elif sop_instance_uid not in held:
                held = held | {sop_instance_uid}  # a server that lists an instance twice
                try:
                    dataset = self.client.retrieve_instance(study_instance_uid, series_instance_uid, sop_instance_uid)
                except (requests.RequestException, DicomwebAnswerError):
                    raise
                except Exception as error:  # not DICOM: this instance only
                    refused.append(f"instance {sop_instance_uid}: not DICOM ({describe_part(error)})")
                    continue
                yield Asked(study_instance_uid, series_instance_uid, sop_instance_uid), dataset

    def _hand_over(self, dataset: Dataset, asked: Asked) -> str | None:
        """Give one retrieved instance to the receiver; None when stored (or already), else why not."""
        problem = not_as_asked(dataset, asked)
        if problem:
            return problem
        sop_class = str(dataset.get("SOPClassUID", ""))
        modality = str(dataset.get("Modality", "")).upper()
        reason = None
        if sop_class not in RADIOGRAPH_SOP_CLASSES:
            reason = f"SOP Class is {sop_class[:64] or 'missing'}; expected CR or DX Image Storage"
        elif modality not in self.config.modalities:
            reason = f"Modality is {modality[:16] or 'missing'}; expected one of {', '.join(self.config.modalities)}"
        if reason:
            self._receiver.skip(calling_ae_title=self.config.name, reason=reason)
            return f"instance {dataset.SOPInstanceUID}: {reason}"
        problem = pixel_data_problem(dataset)
        if problem:
            return f"instance {dataset.SOPInstanceUID}: {problem}"
        staged = self._staging_dir / f"{uuid.uuid4().hex}.dcm"
        try:
            try:
                with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as writer:
                    dataset.save_as(writer, enforce_file_format=True)
            except (ValueError, TypeError, AttributeError, KeyError) as error:  # pydicom on a malformed data set
                return f"instance {dataset.SOPInstanceUID}: cannot be written as DICOM ({describe_part(error)})"
            result = self._receiver.store(
                staged, name=f"{dataset.SOPInstanceUID}.dcm", calling_ae_title=self.config.name
            )
        finally:
            staged.unlink(missing_ok=True)
        if result.disposition is Disposition.REFUSED:
            return f"instance {dataset.SOPInstanceUID}: {result.detail or 'refused'}"
        return None

    def _describe(self, error: BaseException) -> str:
        """:func:`describe_error`, with the password and token scrubbed from what a server echoed."""
        return scrub(describe_error(error), _secrets(self.config))

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
    session = BoundedSession(config.timeout_s, secrets=_secrets(config))
    return authorised_client(
        config.url,
        session,
        token=config.token,
        username=config.username,
        password=config.password,
        timeout_s=config.timeout_s,
    )


def describe_error(error: BaseException) -> str:
    """One line about a failed request, without credentials or patient data."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        response = error.response
        return f"HTTP {response.status_code} {response.reason} from {_shown(response.url)}"
    if isinstance(error, requests.Timeout):
        return f"no answer within the timeout ({type(error).__name__})"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return f"the connection broke in the middle of the answer ({type(error).__name__})"
    if isinstance(error, requests.ConnectionError):
        return f"cannot connect ({type(error).__name__})"
    return f"{type(error).__name__}: {str(error)[:200]}"


def _is_server_failure(error: BaseException) -> bool:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        return status in _SERVER_STATUSES or status >= 500
    return isinstance(error, (requests.ConnectionError, requests.Timeout))


def _shown(url: str) -> str:
    """A URL without its query (which may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _secrets(config: DicomwebConfig) -> tuple[str, ...]:
    basic = basic_credentials(config.username, config.password or "") if config.username else ""
    return tuple(secret for secret in (config.password, config.token, basic) if secret)


def _summary(problems: list[str]) -> str | None:
    """The first problem of a poll, on one line, and how many more there were."""
    if not problems:
        return None
    first = " ".join(problems[0].split())
    return first + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else "")
