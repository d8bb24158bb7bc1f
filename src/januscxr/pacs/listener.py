"""The DIMSE listener: a C-ECHO and C-STORE SCP that hands chest radiographs to a :class:`Receiver`.

Each received instance is written under a partial name in the staging folder, fsynced and
renamed, its header read through :func:`januscxr.io.read_header`, then handed to the receiver,
which stores it (the reading room's ingest: durable before it returns) and only then does the
success status go back. Instances that are not chest radiographs are acknowledged and reported
to the receiver as skipped; an undecodable one gets a failure status and a log line, and the
association goes on. The listener imports no server code: the server wires the receiver.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from januscxr.errors import DicomListenerError, JanusCxrError
from januscxr.io import read_header
from januscxr.io.dicom import CHEST_BODY_PART_WORDS, RADIOGRAPHY_MODALITIES, read_dataset
from januscxr.io.pixeldata import check_pixel_data, read_layout
from januscxr.pacs.callers import CallerRule, check_ae_title, parse_callers
from januscxr.pacs.conformance import VERIFICATION_SOP_CLASS, decodable_transfer_syntaxes, stored_sop_classes

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # our disk or database failed: the sender should try again later
CANNOT_UNDERSTAND = 0xC000  # the instance cannot be read
ERROR_COMMENT_MAX_CHARS = 64  # LO
_REJECTED_PERMANENT, _SERVICE_USER, _CALLING_AE_NOT_RECOGNISED = 0x01, 0x01, 0x03


class Disposition(StrEnum):
    """What the receiver did with an instance."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class StoreResult:
    """The receiver's answer; ``detail`` says why a refused (or differing duplicate) instance was not stored."""

    disposition: Disposition
    detail: str | None = None


class Receiver(Protocol):
    """Where received instances go: the reading room's ingest, or a test double."""

    def store(self, path: Path, *, name: str, calling_ae_title: str) -> StoreResult:
        """Store the file durably (or find it already stored) before returning."""
        ...

    def skip(self, *, calling_ae_title: str, reason: str) -> None:
        """Record an acknowledged instance that is not stored (no patient data in ``reason``)."""
        ...


@dataclass(frozen=True)
class ListenerConfig:
    """The listener's settings; an empty ``allowed_callers`` accepts any calling AE title."""

    ae_title: str = "JANUSCXR"
    port: int = 11112
    bind_address: str = "127.0.0.1"
    allowed_callers: tuple[str, ...] = ()
    accept_secondary_capture: bool = False


class DicomListener:
    """A C-ECHO / C-STORE SCP on ``config.bind_address:config.port`` (port 0 picks a free one)."""

    def __init__(self, config: ListenerConfig, receiver: Receiver, *, staging_dir: Path) -> None:
        self.config = config
        self.ae_title = check_ae_title(config.ae_title, "dicom_ae_title")
        self.callers: tuple[CallerRule, ...] = parse_callers(config.allowed_callers)
        self._receiver = receiver
        self._staging_dir = staging_dir
        self._stored_classes = frozenset(stored_sop_classes(accept_secondary_capture=config.accept_secondary_capture))
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when ``config.port`` is 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Listen in background threads; DicomListenerError when the address cannot be bound."""
        self._staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for leftover in self._staging_dir.glob("*.dcm"):  # from a crash: never acknowledged, the sender resends
            leftover.unlink(missing_ok=True)
        if not self.callers and not _is_loopback(self.config.bind_address):
            logger.warning("DICOM listener on %s accepts any calling AE title", self.config.bind_address)
        handlers: list[EventHandlerType] = [(evt.EVT_REQUESTED, self._on_requested), (evt.EVT_C_STORE, self._on_store)]
        try:
            self._server = self._application_entity().start_server(
                (self.config.bind_address, self.config.port), block=False, evt_handlers=handlers
            )
        except OSError as error:
            where = f"{self.config.bind_address}:{self.config.port}"
            raise DicomListenerError(
                f"dicom_port: cannot listen on {where} ({error.strerror or error}); expected a free port"
            ) from error
        logger.info("DICOM listener %s on %s:%d", self.ae_title, self.config.bind_address, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _application_entity(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = True
        ae.add_supported_context(VERIFICATION_SOP_CLASS, ALL_TRANSFER_SYNTAXES)
        decodable = decodable_transfer_syntaxes()
        for context in AllStoragePresentationContexts:
            sop_class = context.abstract_syntax or ""
            syntaxes = decodable if sop_class in self._stored_classes else ALL_TRANSFER_SYNTAXES
            ae.add_supported_context(sop_class, syntaxes)
        return ae

    def _on_requested(self, event: Event) -> None:
        # Rejected here, before negotiation: an unknown caller never gets an association.
        if not self.callers:
            return
        requestor = event.assoc.requestor
        calling = str(requestor.primitive.calling_ae_title if requestor.primitive else "").strip()
        address = str(requestor.address)
        if not any(rule.allows(calling, address) for rule in self.callers):
            logger.warning("DICOM association from %r at %s rejected: calling AE title not allowed", calling, address)
            event.assoc.acse.send_reject(_REJECTED_PERMANENT, _SERVICE_USER, _CALLING_AE_NOT_RECOGNISED)
            event.assoc.kill()

    def _on_store(self, event: Event) -> Dataset:
        calling = str(event.assoc.requestor.ae_title).strip()
        sop_class = str(event.request.AffectedSOPClassUID or "")
        if sop_class not in self._stored_classes:
            return self._skip(calling, f"SOP Class is {_class_name(sop_class)}; expected CR or DX Image Storage")
        staged = self._stage(event)
        try:
            return self._handle_staged(staged, calling)
        except Exception:  # our disk or database: the sender keeps the instance and retries
            logger.exception("DICOM instance from %r not stored: internal error", calling)
            return _status(OUT_OF_RESOURCES, "internal error while storing; try again later")
        finally:
            staged.unlink(missing_ok=True)

    def _handle_staged(self, staged: Path, calling: str) -> Dataset:
        try:
            header = read_header(staged)
            skip_reason = _not_chest_radiograph(header.modality, header.body_part_examined)
            if skip_reason is None:
                dataset = read_dataset(staged)
                check_pixel_data(dataset, staged, read_layout(dataset, staged), max_pixels=None)
        except JanusCxrError as error:
            reason = str(error).replace(f"{staged}: ", "")
            logger.warning("DICOM instance from %r refused as undecodable: %s", calling, reason)
            return _status(CANNOT_UNDERSTAND, reason)
        if skip_reason is not None:
            return self._skip(calling, skip_reason)
        name = f"{header.sop_instance_uid or staged.stem}.dcm"
        result = self._receiver.store(staged, name=name, calling_ae_title=calling)
        if result.disposition is Disposition.REFUSED:
            logger.warning("DICOM instance from %r refused: %s", calling, result.detail)
            return _status(CANNOT_UNDERSTAND, result.detail or "refused")
        if result.detail:  # same SOP Instance UID, other content: acknowledged, the first one kept
            logger.warning("DICOM instance from %r acknowledged, not stored: %s", calling, result.detail)
        return _status(SUCCESS)

    def _skip(self, calling: str, reason: str) -> Dataset:
        logger.info("DICOM instance from %r acknowledged and skipped: %s", calling, reason)
        self._receiver.skip(calling_ae_title=calling, reason=reason)
        return _status(SUCCESS)

    def _stage(self, event: Event) -> Path:
        """The instance as received, as a DICOM file: partial name, fsync, rename, directory fsync."""
        partial = self._staging_dir / f".partial-{uuid.uuid4().hex}.dcm"
        target = partial.with_name(partial.name.removeprefix(".partial-"))
        try:
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as writer:
                writer.write(event.encoded_dataset(include_meta=True))
                writer.flush()
                os.fsync(writer.fileno())
            partial.replace(target)
            directory = os.open(self._staging_dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        finally:
            partial.unlink(missing_ok=True)
        return target


def _not_chest_radiograph(modality: str | None, body_part: str | None) -> str | None:
    modality = (modality or "").upper()
    if modality and modality not in RADIOGRAPHY_MODALITIES:
        return f"Modality is {modality}; expected a radiograph (CR or DX)"
    body_part = (body_part or "").upper()
    if body_part and not any(word in body_part for word in CHEST_BODY_PART_WORDS):
        return f"Body Part Examined is {body_part}; expected CHEST"
    return None


def _class_name(uid: str) -> str:
    name = UID(uid).name
    return name if name and name != uid else uid


def _status(code: int, comment: str | None = None) -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = "".join(ch for ch in comment if ch.isprintable())[:ERROR_COMMENT_MAX_CHARS]
    return status


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"
