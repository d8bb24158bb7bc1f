"""ORU^R01 over MLLP to a listener on loopback that parses with python-hl7 and answers AA, AE, AR, nothing or nonsense."""

from __future__ import annotations

import time

import pytest

from januscxr.errors import DeliveryError
from januscxr.interop.hl7_oru import MessageRouting, oru_r01
from januscxr.pacs.mllp import END_BLOCK, START_BLOCK, frame, parse_ack, send_mllp
from tests.interop.outgoing import FINDINGS, ORDER, PATIENT, amended, draft, signed
from tests.pacs.conftest import free_port
from tests.pacs.mllp_receiver import mllp_receiver

ROUTING = MessageRouting(receiving_application="RIS", receiving_facility="HOSP")


def test_final_report_is_acknowledged_and_parsed_by_the_receiver() -> None:
    message = oru_r01(signed(), PATIENT, ORDER, ROUTING, control_id="CTL-42")
    with mllp_receiver("AA") as receiver:
        ack = send_mllp(message, host="127.0.0.1", port=receiver.port, timeout_s=5)
    assert (ack.code, ack.control_id) == ("AA", "CTL-42")
    (received,) = receiver.messages
    assert receiver.raw[0] == message.encode("utf-8"), "sent as UTF-8, byte for byte"
    assert str(received.segment("OBR")[25]) == "F"
    assert str(received.segment("OBR")[18]) == "ACC-2026-001"
    assert str(received.segment("PID")[5][0][0]) == "Müller"
    findings = received.segments("OBX")[0]
    assert "\n".join(received.unescape(str(r)) for r in findings[5]) == FINDINGS.replace("\r\n", "\n")


def test_amendment_and_draft_arrive_with_their_status() -> None:
    with mllp_receiver("AA") as receiver:
        for report in (draft(), signed(), amended()):
            send_mllp(oru_r01(report, PATIENT, ORDER, ROUTING), host="127.0.0.1", port=receiver.port, timeout_s=5)
    assert [str(m.segment("OBR")[25]) for m in receiver.messages] == ["P", "F", "C"]


@pytest.mark.parametrize("code", ["AE", "AR"])
def test_a_refusal_is_retryable_and_says_why(code: str) -> None:
    with mllp_receiver(code) as receiver, pytest.raises(DeliveryError) as raised:
        send_mllp(oru_r01(signed(), PATIENT, ORDER, ROUTING), host="127.0.0.1", port=receiver.port, timeout_s=5)
    assert raised.value.retryable
    assert f"MLLP 127.0.0.1:{receiver.port}: {code} (patient unknown); expected AA" == str(raised.value)


def test_no_ack_times_out_retryably() -> None:
    started = time.monotonic()
    with mllp_receiver("silent") as receiver, pytest.raises(DeliveryError, match=r"no ACK within 0\.3 s") as raised:
        send_mllp(oru_r01(signed(), PATIENT, ORDER, ROUTING), host="127.0.0.1", port=receiver.port, timeout_s=0.3)
    assert raised.value.retryable and time.monotonic() - started < 3
    assert len(receiver.messages) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("garbage", "is not an HL7 message with an MSA"),
        ("close", "connection closed after 0 bytes"),
        ("other-id", "ACK for message 'someone-else'"),
        ("unframed", "without the MLLP start block"),
    ],
)
def test_nonsense_is_retryable(answer: str, expected: str) -> None:
    with mllp_receiver(answer) as receiver, pytest.raises(DeliveryError, match=expected) as raised:
        send_mllp(oru_r01(signed(), PATIENT, ORDER, ROUTING), host="127.0.0.1", port=receiver.port, timeout_s=5)
    assert raised.value.retryable


def test_connection_refused_is_retryable() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(DeliveryError, match=f"MLLP 127.0.0.1:{port}: .*expected a receiver") as raised:
        send_mllp(oru_r01(signed(), PATIENT, ORDER, ROUTING), host="127.0.0.1", port=port, timeout_s=2)
    assert raised.value.retryable


def test_a_trickling_receiver_still_times_out() -> None:
    started = time.monotonic()
    with mllp_receiver("trickle") as receiver, pytest.raises(DeliveryError, match="no ACK within") as raised:
        send_mllp(oru_r01(signed(), PATIENT, ORDER, ROUTING), host="127.0.0.1", port=receiver.port, timeout_s=0.4)
    assert raised.value.retryable and time.monotonic() - started < 2


def test_ack_parsing_accepts_enhanced_mode_and_refuses_other_messages() -> None:
    ack = parse_ack(b"MSH|^~\\&|RIS|H|J|F|20260101||ACK|9|P|2.5.1\rMSA|CA|CTL\r", destination="d")
    assert (ack.code, ack.control_id) == ("CA", "CTL")
    with pytest.raises(DeliveryError, match="ORU with MSA-1"):
        parse_ack(b"MSH|^~\\&|RIS|H|J|F|20260101||ORU^R01|9|P|2.5.1\rMSA|AA|CTL\r", destination="d")
    with pytest.raises(DeliveryError, match="not UTF-8"):
        parse_ack(b"\xff\xfe", destination="d")
    assert frame("MSH") == START_BLOCK + b"MSH" + END_BLOCK


def test_a_message_without_control_id_is_not_sent() -> None:
    with pytest.raises(DeliveryError, match="no MSH-10") as raised:
        send_mllp("PID|1", host="127.0.0.1", port=1)
    assert not raised.value.retryable
