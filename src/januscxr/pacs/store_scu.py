"""Sending januscxr's DICOM objects to a PACS: C-STORE as an SCU (pynetdicom) or STOW-RS (dicomweb-client).

One association (or one STOW-RS request) per object: the outbox retries an object alone, and its
SOP Instance UID stays the same, so a PACS that got it before stores it once. The SOP classes
januscxr sends are :data:`SCU_SOP_CLASSES`, each proposed in the file's own transfer syntax and
in Explicit and Implicit VR Little Endian.

Failures raise :class:`~januscxr.errors.DeliveryError`: retryable for a refused, rejected,
aborted or silent association, a C-STORE failure status, a STOW-RS timeout, connection failure,
any other HTTP error, or an answer that does not list the instance as stored; not retryable only when the STOW-RS
server refused the content itself (400, 413, 415). C-STORE success (0x0000) and warning statuses
(0xB000, 0xB006, 0xB007, 0x0107, 0x0116) count as stored.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    Comprehensive3DSRStorage,
    EnhancedSRStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
)
from pynetdicom import AE

from januscxr.errors import ConfigurationError, DeliveryError
from januscxr.pacs.callers import check_ae_title
from januscxr.pacs.dicomweb_answers import authorised_client

SCU_SOP_CLASSES: tuple[UID, ...] = (Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage)
SCU_TRANSFER_SYNTAXES: tuple[UID, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
SUCCESS = 0x0000
WARNINGS = frozenset({0xB000, 0xB006, 0xB007, 0x0107, 0x0116})
STOW_CONTENT_REFUSED = frozenset({400, 413, 415})
_DESTINATION = re.compile(r"^(?P<ae>[^@]+)@(?P<host>[^:@]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")
# A host name (RFC 1123 labels; "_" allowed, as some internal DNS has it) or an IPv4 or IPv6 address.
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DicomDestination:
    """A C-STORE SCP: its AE title, host and port; januscxr calls as ``calling_ae_title``."""

    ae_title: str
    host: str
    port: int
    calling_ae_title: str = "JANUSCXR"
    timeout_s: float = 30.0

    @property
    def name(self) -> str:
        """``dicom:AE@host:port``: the destination's name in the outbox."""
        return f"dicom:{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class StowDestination:
    """A STOW-RS endpoint (the DICOMweb root), with basic or bearer authentication."""

    url: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"outbound_stow_url: {self.url!r}; expected an http:// or https:// URL")

    @property
    def name(self) -> str:
        """``stow:<url>``: the destination's name in the outbox."""
        return f"stow:{self.url}"

    def __repr__(self) -> str:  # never show the credentials
        return f"StowDestination(url={self.url!r}, timeout_s={self.timeout_s})"


def parse_dicom_destination(entry: str, *, calling_ae_title: str, timeout_s: float = 30.0) -> DicomDestination:
    """``"AE@host:port"`` as a :class:`DicomDestination`; ConfigurationError naming the entry otherwise."""
    match = _DESTINATION.match(entry.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ConfigurationError(f"outbound_dicom: {entry!r}; expected AE@host:port, e.g. PACS@10.0.0.5:104")
    ae_title = check_ae_title(match["ae"], "outbound_dicom")  # DicomListenerError, a ConfigurationError
    calling = check_ae_title(calling_ae_title, "dicom_ae_title")
    host = check_host(match["host"].strip("[]"), "outbound_dicom")
    return DicomDestination(ae_title, host, int(match["port"]), calling_ae_title=calling, timeout_s=timeout_s)


def check_host(host: str, setting: str) -> str:
    """``host`` when it is a well-formed host name or IP address; ConfigurationError naming ``setting`` otherwise."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ConfigurationError(f"{setting}: host {host!r}; expected a host name (letters, digits, '-', '.') or IP")
    return host


def send_cstore(path: Path, destination: DicomDestination) -> int:
    """C-STORE the DICOM file at ``path`` to ``destination``; the status (success or a warning).

    Raises
    ------
    DeliveryError
        Retryable: the association was refused, rejected or aborted, no answer came in time, or
        the SCP answered a failure status.
    """
    where = f"C-STORE to {destination.ae_title}@{destination.host}:{destination.port}"
    dataset = _read(path)
    ae = AE(ae_title=destination.calling_ae_title)
    for attribute in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, attribute, destination.timeout_s)
    syntaxes = list(dict.fromkeys([UID(dataset.file_meta.TransferSyntaxUID), *SCU_TRANSFER_SYNTAXES]))
    ae.add_requested_context(dataset.SOPClassUID, syntaxes)
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    except OSError as error:  # the host name does not resolve (socket.gaierror), or the network is away
        raise DeliveryError(f"{where}: {error.strerror or error}; expected a reachable SCP", retryable=True) from error
    if not assoc.is_established:
        why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "refused or not answered"
        raise DeliveryError(
            f"{where}: association {why}; expected an SCP accepting {dataset.SOPClassUID.name}", retryable=True
        )
    try:
        response = assoc.send_c_store(dataset)
    finally:
        if assoc.is_established:
            assoc.release()
    status = int(response.Status) if "Status" in response else None
    if status is None:
        raise DeliveryError(f"{where}: no C-STORE response (timeout or aborted); expected a status", retryable=True)
    if status != SUCCESS and status not in WARNINGS:
        comment = f" ({response.ErrorComment})" if response.get("ErrorComment") else ""
        raise DeliveryError(f"{where}: status 0x{status:04X}{comment}; expected success 0x0000", retryable=True)
    log.info("%s stored %s (status 0x%04X)", where, dataset.SOPClassUID.name, status)
    return status


def send_stow(path: Path, destination: StowDestination) -> None:
    """STOW-RS the DICOM file at ``path`` to ``destination``.

    Raises
    ------
    DeliveryError
        Retryable for timeouts, connection failures, HTTP errors and answers that do not list
        the instance as stored; not retryable when the server refused the content (400, 413, 415).
    """
    where = f"STOW-RS to {destination.url}"
    dataset = _read(path)
    try:
        answer: Dataset = stow_client(destination).store_instances(datasets=[dataset])
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        raise DeliveryError(
            f"{where}: HTTP {status}; expected 200 with the instance stored",
            retryable=status not in STOW_CONTENT_REFUSED,
        ) from error
    except requests.Timeout as error:
        raise DeliveryError(
            f"{where}: no answer within {destination.timeout_s:g} s; expected 200", retryable=True
        ) from error
    except (requests.RequestException, ValueError) as error:  # ValueError: an answer that is not DICOM
        raise DeliveryError(f"{where}: {type(error).__name__}; expected a STOW-RS response", retryable=True) from error
    failed = answer.get("FailedSOPSequence")
    if failed:
        reason = failed[0].get("FailureReason")
        raise DeliveryError(f"{where}: instance failed (reason {reason}); expected it stored", retryable=True)
    stored = {str(item.get("ReferencedSOPInstanceUID", "")) for item in answer.get("ReferencedSOPSequence", [])}
    if str(dataset.SOPInstanceUID) not in stored:  # an empty or HTML answer is not a STOW-RS response
        raise DeliveryError(
            f"{where}: answer does not list the instance as stored; expected a STOW-RS response naming it",
            retryable=True,
        )
    log.info("%s stored %s", where, dataset.SOPClassUID.name)


def stow_client(destination: StowDestination) -> DICOMwebClient:
    """A client with the destination's authentication and timeout, without retries of its own (the outbox retries)."""
    return authorised_client(
        destination.url,
        requests.Session(),
        token=destination.token,
        username=destination.username,
        password=destination.password,
        timeout_s=destination.timeout_s,
    )


def _read(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise DeliveryError(
            f"{path}: cannot be read ({error}); expected the DICOM file queued", retryable=False
        ) from error
