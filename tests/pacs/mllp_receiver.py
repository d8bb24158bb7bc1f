"""An MLLP receiver for the tests: parses each message with python-hl7 (not hl7apy, which builds them) and answers as told."""

from __future__ import annotations

import contextlib
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import hl7

START, END = b"\x0b", b"\x1c\x0d"


@dataclass
class Receiver:
    """What the listener got, and how it answers: "AA", "AE", "AR", "silent", "trickle", "garbage", "close", "other-id", "unframed"."""

    port: int = 0
    answer: str = "AA"
    messages: list[hl7.Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        data = b""
        while END not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        assert data.startswith(START), data[:20]
        block = data[len(START) : data.index(END)]
        receiver = self.server.receiver
        receiver.raw.append(block)
        message = hl7.parse(block.decode("utf-8"))
        receiver.messages.append(message)
        answer = receiver.answer
        if answer == "silent":
            while self.request.recv(1024):  # until the sender gives up and closes
                time.sleep(0.01)
            return
        if answer == "close":
            return
        if answer == "garbage":
            self.request.sendall(START + b"this is not HL7" + END)
            return
        if answer == "trickle":  # a byte at a time, never the end block
            with contextlib.suppress(OSError):  # the sender gives up
                for _ in range(100):
                    self.request.sendall(b"x")
                    time.sleep(0.05)
            return
        code = "AA" if answer in {"other-id", "unframed"} else answer
        ack = message.create_ack(ack_code=code, message_id="RIS-ACK-1", application="RIS", facility="HOSP")
        if answer == "other-id":
            ack["MSA.F2"] = "someone-else"
        if code != "AA":
            ack["MSA.F3"] = "patient unknown"
        self.request.sendall((b"" if answer == "unframed" else START) + str(ack).encode("utf-8") + END)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: Receiver


@contextmanager
def mllp_receiver(answer: str = "AA") -> Iterator[Receiver]:
    """A listener on a free loopback port, for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(port=server.server_address[1], answer=answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
