"""Sending an HL7 v2 message over MLLP and waiting for its acknowledgment.

MLLP (HL7 v2 Minimal Lower Layer Protocol) frames each message as ``0x0B`` message ``0x1C 0x0D``
on a TCP connection; the receiver answers with an ACK framed the same way. One connection per
message: an outbox retries a message alone, and a receiver that drops idle connections is not
a failure mode to handle.

Success is MSA-1 AA (or CA, enhanced mode) for this message's control id. Anything else raises
:class:`~januscxr.errors.DeliveryError` with ``retryable=True``: AE and AR (the receiver's
application or its queue refused it, often for a while), no ACK within the timeout, a refused or
dropped connection, or an answer that is not an ACK of this message. An outbox calling
:func:`send_mllp` retries with backoff; re-sending is safe, the control id stays the same.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass

from hl7apy.exceptions import HL7apyException  # type: ignore[import-untyped]
from hl7apy.parser import parse_message  # type: ignore[import-untyped]

from januscxr.errors import DeliveryError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_ACK_BYTES = 1 << 20  # an ACK is a few hundred bytes; more is not an ACK
ACCEPTED = frozenset({"AA", "CA"})
REFUSED = frozenset({"AE", "AR", "CE", "CR"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acknowledgment:
    """The receiver's ACK: MSA-1 code, MSA-2 control id of the message acknowledged, MSA-3 text."""

    code: str
    control_id: str
    text: str = ""


def frame(message: str) -> bytes:
    """``message`` (ER7, segments separated by CR) as one MLLP block of UTF-8 bytes."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


def send_mllp(message: str, *, host: str, port: int, timeout_s: float = 10.0) -> Acknowledgment:
    """Send ``message`` to ``host:port`` over MLLP and return the receiver's positive ACK.

    Parameters
    ----------
    message
        An HL7 v2 message in ER7 (as :func:`januscxr.interop.hl7_oru.oru_r01` returns it).
    host, port
        The receiver (an interface engine, the RIS).
    timeout_s
        For connecting, and again for the whole ACK to arrive.

    Raises
    ------
    DeliveryError
        Retryable: connection refused or dropped, no ACK in time, AE or AR, or an answer that is
        not an ACK of this message.
    """
    destination = f"MLLP {host}:{port}"
    control_id = _control_id(message)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(frame(message))
            reply = _read_block(connection, destination, timeout_s)
    except TimeoutError as error:
        raise DeliveryError(
            f"{destination}: no ACK within {timeout_s:g} s; expected an HL7 ACK", retryable=True
        ) from error
    except OSError as error:
        raise DeliveryError(f"{destination}: {error.strerror or error}; expected a receiver", retryable=True) from error
    ack = parse_ack(reply, destination=destination)
    if ack.control_id != control_id:
        raise DeliveryError(
            f"{destination}: ACK for message {ack.control_id!r}; expected the ACK of {control_id!r}", retryable=True
        )
    if ack.code not in ACCEPTED:
        detail = f" ({ack.text})" if ack.text else ""
        raise DeliveryError(f"{destination}: {ack.code}{detail}; expected AA", retryable=True)
    log.info("%s acknowledged message %s (%s)", destination, control_id, ack.code)
    return ack


def parse_ack(reply: bytes, *, destination: str) -> Acknowledgment:
    """The MSA of an ACK's bytes (the MLLP framing removed), or a retryable :class:`DeliveryError`."""
    try:
        text = reply.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeliveryError(f"{destination}: answer is not UTF-8 text; expected an HL7 ACK", retryable=True) from error
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    try:
        ack = parse_message(text, find_groups=False)
        message_type = str(ack.msh.msh_9.msh_9_1.value)
        code = str(ack.msa.msa_1.value)
        control_id = str(ack.msa.msa_2.value)
        detail = str(ack.msa.msa_3.value) if ack.msa.msa_3.value else ""
    except (HL7apyException, AttributeError, IndexError, KeyError) as error:
        raise DeliveryError(
            f"{destination}: answer {_preview(text)!r} is not an HL7 message with an MSA; expected an HL7 ACK",
            retryable=True,
        ) from error
    if message_type != "ACK" or code not in ACCEPTED | REFUSED:
        raise DeliveryError(
            f"{destination}: {message_type} with MSA-1 {code!r}; expected an ACK with AA, AE or AR", retryable=True
        )
    return Acknowledgment(code=code, control_id=control_id, text=" ".join(detail.split()))


def _read_block(connection: socket.socket, destination: str, timeout_s: float) -> bytes:
    """Bytes up to the end block, without the framing; the whole read within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    received = bytearray()
    while END_BLOCK not in received:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))  # a receiver trickling bytes still times out
        chunk = connection.recv(65536)
        if not chunk:
            raise DeliveryError(
                f"{destination}: connection closed after {len(received)} bytes; expected an HL7 ACK", retryable=True
            )
        received += chunk
        if len(received) > MAX_ACK_BYTES:
            raise DeliveryError(
                f"{destination}: answer over {MAX_ACK_BYTES} bytes; expected an HL7 ACK", retryable=True
            )
    block = bytes(received[: received.index(END_BLOCK)])
    if not block.startswith(START_BLOCK):
        raise DeliveryError(
            f"{destination}: answer {_preview(block.decode('utf-8', 'replace'))!r} without the MLLP start block; "
            "expected an HL7 ACK",
            retryable=True,
        )
    return block[len(START_BLOCK) :]


def _control_id(message: str) -> str:
    """MSH-10 of an ER7 message."""
    fields = message.split("\r", 1)[0].split(message[3:4] or "|")
    if not message.startswith("MSH") or len(fields) < 10 or not fields[9]:
        raise DeliveryError("message: no MSH-10 control id; expected an HL7 v2 message", retryable=False)
    return fields[9]


def _preview(text: str) -> str:
    return " ".join(text.replace("\r", " ").split())[:80]
