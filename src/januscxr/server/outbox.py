"""Sending the outbox: one thread per configured destination claims its due items and sends them.

The destinations come from the settings (``outbound_*``): DICOM C-STORE SCPs and a STOW-RS
endpoint receive the DICOM objects, an MLLP receiver the ORU^R01 messages, a FHIR server the
transaction bundles. What goes in the outbox, and when, is :mod:`januscxr.server.outbox_objects`.
The sender runs where the background services run (``januscxr serve``, once per deployment) and
in ``januscxr worker``: any number of senders share the queue, each item leased to one of them.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle

from januscxr.errors import DeliveryError
from januscxr.interop.hl7_oru import MessageRouting
from januscxr.pacs.fhir_client import FhirEndpoint, send_transaction
from januscxr.pacs.mllp import send_mllp
from januscxr.pacs.store_scu import (
    DicomDestination,
    StowDestination,
    check_host,
    parse_dicom_destination,
    send_cstore,
    send_stow,
)
from januscxr.server.settings import Settings
from januscxr.storage import outbox
from januscxr.storage.database import Database

logger = logging.getLogger(__name__)

OUTBOX = "outbox"  # the folder of the data folder holding the DICOM objects queued


@dataclass(frozen=True)
class MllpDestination:
    """An HL7 v2 receiver over MLLP, and the MSH routing of the messages sent to it."""

    host: str
    port: int
    routing: MessageRouting
    timeout_s: float = 30.0

    @property
    def name(self) -> str:
        return f"mllp:{self.host}:{self.port}"


@dataclass(frozen=True)
class OutboundConfig:
    """Where objects go and which are sent (``outbound_*`` settings)."""

    dicom: tuple[DicomDestination, ...] = ()
    stow: StowDestination | None = None
    mllp: MllpDestination | None = None
    fhir: FhirEndpoint | None = None
    fhir_identifier_system: str = "urn:januscxr:accession"
    organization: str = "januscxr"
    send_ai_sr: bool = True
    send_heatmaps: bool = True
    send_report_sr: bool = True
    send_draft_sr: bool = False
    send_draft_hl7: bool = False
    backoff_base_s: float = 10.0
    backoff_cap_s: float = 600.0
    poll_s: float = 1.0
    lease_s: float = outbox.DEFAULT_LEASE_S

    @property
    def dicom_names(self) -> list[str]:
        """The destinations of DICOM objects: the C-STORE SCPs, then the STOW-RS endpoint."""
        return [d.name for d in self.dicom] + ([self.stow.name] if self.stow else [])

    @property
    def is_enabled(self) -> bool:
        return bool(self.dicom_names or self.mllp or self.fhir)

    @property
    def report_names(self) -> tuple[str | None, str | None]:
        """The destinations of reports: the MLLP receiver's and the FHIR server's names (None: not set)."""
        return (self.mllp.name if self.mllp else None), (fhir_name(self.fhir) if self.fhir else None)

    def senders(self, data_dir: Path) -> dict[str, Callable[[outbox.ClaimedItem], None]]:
        """Each destination's name and how to send one of its items."""
        found: dict[str, Callable[[outbox.ClaimedItem], None]] = {}
        for scp in self.dicom:
            found[scp.name] = functools.partial(_send_cstore, data_dir, scp)
        if self.stow is not None:
            found[self.stow.name] = functools.partial(_send_stow, data_dir, self.stow)
        if self.mllp is not None:
            found[self.mllp.name] = functools.partial(_send_mllp, self.mllp)
        if self.fhir is not None:
            found[fhir_name(self.fhir)] = functools.partial(_send_fhir, self.fhir)
        return found

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundConfig:
        """The configuration ``settings`` describe; ConfigurationError naming a malformed setting."""
        timeout_s = settings.outbound_timeout_s
        dicom = tuple(
            parse_dicom_destination(entry, calling_ae_title=settings.dicom_ae_title, timeout_s=timeout_s)
            for entry in settings.outbound_dicom
        )
        stow = None
        if settings.outbound_stow_url:
            password, token = settings.outbound_stow_password, settings.outbound_stow_token
            stow = StowDestination(
                settings.outbound_stow_url,
                username=settings.outbound_stow_username,
                password=password.get_secret_value() if password else None,
                token=token.get_secret_value() if token else None,
                timeout_s=timeout_s,
            )
        return cls(
            dicom=dicom,
            stow=stow,
            mllp=_mllp(settings),
            fhir=_fhir(settings),
            fhir_identifier_system=settings.outbound_fhir_identifier_system,
            organization=settings.outbound_organization,
            send_ai_sr=settings.outbound_send_ai_sr,
            send_heatmaps=settings.outbound_send_heatmaps,
            send_report_sr=settings.outbound_send_report_sr,
            send_draft_sr=settings.outbound_send_draft_sr,
            send_draft_hl7=settings.outbound_send_draft_hl7,
            backoff_base_s=settings.outbound_backoff_base_s,
            backoff_cap_s=settings.outbound_backoff_cap_s,
            poll_s=settings.outbound_poll_s,
        )


def _mllp(settings: Settings) -> MllpDestination | None:
    if not settings.outbound_mllp_host or settings.outbound_mllp_port is None:
        return None
    routing = MessageRouting(
        sending_application=settings.outbound_hl7_sending_application,
        sending_facility=settings.outbound_hl7_sending_facility,
        receiving_application=settings.outbound_hl7_receiving_application,
        receiving_facility=settings.outbound_hl7_receiving_facility,
        processing_id=settings.outbound_hl7_processing_id,
    )
    port, timeout_s = settings.outbound_mllp_port, settings.outbound_timeout_s
    host = check_host(settings.outbound_mllp_host, "outbound_mllp_host")
    return MllpDestination(host, port, routing, timeout_s=timeout_s)


def _fhir(settings: Settings) -> FhirEndpoint | None:
    if not settings.outbound_fhir_url:
        return None
    password, token = settings.outbound_fhir_password, settings.outbound_fhir_token
    user = settings.outbound_fhir_username
    return FhirEndpoint(
        settings.outbound_fhir_url,
        bearer_token=token.get_secret_value() if token else None,
        basic_auth=(user, password.get_secret_value() if password else "") if user else None,
        timeout_s=settings.outbound_timeout_s,
    )


def fhir_name(endpoint: FhirEndpoint) -> str:
    """``fhir:<base url>``: the FHIR server's name in the outbox."""
    return f"fhir:{endpoint.base_url}"


def _send_cstore(data_dir: Path, scp: DicomDestination, item: outbox.ClaimedItem) -> None:
    send_cstore(_file(data_dir, item), scp)


def _send_stow(data_dir: Path, stow: StowDestination, item: outbox.ClaimedItem) -> None:
    send_stow(_file(data_dir, item), stow)


def _send_mllp(mllp: MllpDestination, item: outbox.ClaimedItem) -> None:
    send_mllp(_text(item), host=mllp.host, port=mllp.port, timeout_s=mllp.timeout_s)


def _send_fhir(endpoint: FhirEndpoint, item: outbox.ClaimedItem) -> None:
    send_transaction(Bundle.model_validate_json(_text(item)), endpoint)


def _file(data_dir: Path, item: outbox.ClaimedItem) -> Path:
    if not item.payload_path:
        raise DeliveryError(f"outbox item {item.id}: no DICOM file; expected one queued with it", retryable=False)
    return data_dir / item.payload_path


def _text(item: outbox.ClaimedItem) -> str:
    if not item.payload_text:
        raise DeliveryError(f"outbox item {item.id}: no message text; expected one queued with it", retryable=False)
    return item.payload_text


class OutboxSender:
    """Threads sending the outbox, one per destination of ``config``, until :meth:`stop`."""

    def __init__(self, db: Database, data_dir: Path, config: OutboundConfig) -> None:
        self.db, self.config = db, config
        self._senders = config.senders(data_dir)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number, name in enumerate(self._senders):
            thread = threading.Thread(target=self._run, args=(name,), name=f"januscxr-outbox-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()
        logger.info("sending the outbox to %d destination(s)", len(self._senders))

    def stop(self) -> None:
        """Stop after the items being sent; queued items stay queued in the database."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()

    def nudge(self) -> None:
        """Look for due items now (something was queued)."""
        self._wake.set()

    def _run(self, name: str) -> None:
        while not self._stopping.is_set():
            try:
                sent = self.send_one(name)
            except Exception:  # the database is away: try again after a pause
                logger.exception("outbox to %s: could not claim an item", name)
                sent = False
            if not sent:
                self._wake.wait(self._idle_s(name))
                self._wake.clear()

    def _idle_s(self, name: str) -> float:
        try:
            with self.db.read() as session:
                due_in = outbox.next_due_in(session, name)
        except Exception:
            return self.config.poll_s
        return self.config.poll_s if due_in is None else max(min(self.config.poll_s, due_in), 0.01)

    def send_one(self, name: str) -> bool:
        """Claim and send one due item of destination ``name``; whether there was one."""
        with self.db.read() as session:  # a read first: idle senders never queue on the write lock
            if not outbox.has_due_item(session, name):
                return False
        with self.db.write() as session:
            item = outbox.claim_item(session, name, f"{self._owner}/{name}", lease_s=self.config.lease_s)
        if item is None:
            return False
        try:
            self._senders[name](item)
        except DeliveryError as error:
            self._record_failure(item, str(error), retryable=error.retryable)
        except Exception as error:  # a bug or an unexpected library error: keep the item, retry later
            logger.exception("outbox item %d to %s: unexpected failure", item.id, name)
            self._record_failure(item, f"{type(error).__name__}: {error}", retryable=True)
        else:
            with self.db.write() as session:
                outbox.finish_item(session, item)
            logger.info("outbox item %d (%s) sent to %s", item.id, item.kind.value, name)
        return True

    def _record_failure(self, item: outbox.ClaimedItem, message: str, *, retryable: bool) -> None:
        base_s, cap_s = self.config.backoff_base_s, self.config.backoff_cap_s
        with self.db.write() as session:
            when = outbox.fail_item(session, item, message, retryable=retryable, base_s=base_s, cap_s=cap_s)
        if when is None:
            logger.warning("outbox item %d to %s set aside: %s", item.id, item.destination, message)
        else:
            logger.warning(
                "outbox item %d to %s: attempt %d failed; next try at %s", item.id, item.destination, item.attempt, when
            )


def start_outbox_sender(db: Database, settings: Settings) -> OutboxSender | None:
    """Start sending when any ``outbound_*`` destination is set; None otherwise."""
    config = OutboundConfig.from_settings(settings)
    if not config.is_enabled:
        return None
    sender = OutboxSender(db, settings.data_dir, config)
    sender.start()
    return sender
