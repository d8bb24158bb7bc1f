"""The calling AE titles allowed to associate: ``"AE"`` (from any host) or ``"AE@host"``."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

from januscxr.errors import DicomListenerError

AE_TITLE_MAX_CHARS = 16


@dataclass(frozen=True)
class CallerRule:
    """One allowed caller: its AE title and, when a host was given, the addresses it may call from."""

    ae_title: str
    addresses: frozenset[str] | None = None

    def allows(self, ae_title: str, address: str) -> bool:
        return ae_title == self.ae_title and (self.addresses is None or address in self.addresses)


def check_ae_title(value: str, field: str) -> str:
    """An AE title as DICOM allows it (1-16 characters, no backslash or control characters), stripped."""
    title = value.strip()
    if not 1 <= len(title) <= AE_TITLE_MAX_CHARS or "\\" in title or not title.isprintable() or not title.isascii():
        raise DicomListenerError(
            f"{field}: AE title {value!r} is invalid; expected 1-{AE_TITLE_MAX_CHARS} printable ASCII characters "
            "without a backslash"
        )
    return title


def parse_callers(entries: Iterable[str]) -> tuple[CallerRule, ...]:
    """Parse ``"AE"`` / ``"AE@host"`` entries; a host name is resolved once, here, to its addresses."""
    rules = []
    for entry in entries:
        title, _, host = entry.partition("@")
        ae_title = check_ae_title(title, "dicom_allowed_callers")
        rules.append(CallerRule(ae_title, _addresses(host.strip(), entry) if host.strip() else None))
    return tuple(rules)


def _addresses(host: str, entry: str) -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise DicomListenerError(
            f"dicom_allowed_callers: host of {entry!r} cannot be resolved ({error.strerror or error}); "
            "expected an IP address or a resolvable host name"
        ) from error
    return frozenset(str(info[4][0]) for info in infos)
