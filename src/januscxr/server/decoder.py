"""Image decoding in a reusable child process, with a time limit, that a signal can never wedge.

A plain ``multiprocessing.Process`` and a pipe, not a ``multiprocessing.Pool``: a pool's
``terminate()`` takes a lock its worker may have held when it died, so a worker killed from
outside (``systemctl stop`` signals the whole process group) left the server hanging on shutdown.
Here the parent owns nothing the child can hold: a timeout, a dead child or a shutdown is one
``kill()`` and ``join()``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from januscxr.errors import ImageReadError, ImageTooLargeError, ReadTimeoutError
from januscxr.io import read_header, read_image
from januscxr.io.limits import DEFAULT_MAX_PIXELS
from januscxr.types import Image

DEFAULT_READ_TIMEOUT_S = 60.0
CHILD_START_TIMEOUT_S = 120.0
_READY = "ready"


class ImageDecoder:
    """Reads images in a reusable spawned child process, abandoning any read over ``timeout_s``.

    On a timeout the child is killed and the next read starts a fresh one. ``decode`` is called
    in the child as ``decode(path, require_frontal=False)``; it must be a module-level function
    (it is pickled by name). Images over ``max_pixels`` (from the header) are refused unread.
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        decode: Callable[..., Image] = read_image,
    ) -> None:
        self.timeout_s, self.max_pixels, self._decode = timeout_s, max_pixels, decode
        self._child: BaseProcess | None = None
        self._pipe: Connection | None = None
        self._lock = threading.Lock()

    def read(self, path: Path) -> Image:
        header = read_header(path)
        if header.rows and header.columns and header.rows * header.columns > self.max_pixels:
            raise ImageTooLargeError(
                f"{path}: image is {header.columns}x{header.rows} px; expected at most {self.max_pixels:,} pixels"
            )
        with self._lock:
            pipe = self._running()
            pipe.send(str(path))
            if not pipe.poll(self.timeout_s):
                self._kill()
                raise ReadTimeoutError(
                    f"{path.name}: reading took longer than {self.timeout_s:g} s", timeout_s=self.timeout_s
                )
            try:
                succeeded, value = pipe.recv()
            except (EOFError, OSError):  # the child died mid-read (killed, out of memory)
                self._kill()
                raise ImageReadError(f"{path.name}: the decoding process died while reading it") from None
        if not succeeded:
            raise value
        image: Image = value
        return image

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _running(self) -> Connection:
        if self._child is not None and self._child.is_alive() and self._pipe is not None:
            return self._pipe
        self._kill()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, self._decode), name="januscxr-decoder", daemon=True)
        process.start()
        child.close()
        self._child, self._pipe = process, parent
        # The time limit is for reading, not for starting the child and importing the decoder.
        if not parent.poll(CHILD_START_TIMEOUT_S) or parent.recv() != _READY:
            self._kill()
            raise ImageReadError(f"the decoding process did not start within {CHILD_START_TIMEOUT_S:g} s")
        return parent

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()  # SIGKILL: stops a child stuck in C code too
            self._child.join()
            self._child = None
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None


def _serve(pipe: Connection, decode: Callable[..., Image]) -> None:
    """The child: decode each path received, answer (True, image) or (False, the exception)."""
    pipe.send(_READY)
    while True:
        try:
            path = pipe.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died
            return
        try:
            answer: tuple[bool, object] = (True, decode(path, require_frontal=False))
        except Exception as error:  # any failure of the decoder is the parent's to raise
            answer = (False, error)
        try:
            pipe.send(answer)
        except Exception as error:  # an exception that does not pickle: send its words
            pipe.send((False, ImageReadError(f"{Path(path).name}: {type(error).__name__}: {error}")))
