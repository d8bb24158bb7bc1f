"""The decoding child process: a read time limit, and no hang when the child is killed from outside."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from januscxr.errors import ImageReadError, ReadTimeoutError
from januscxr.server.decoder import ImageDecoder
from tests.server.broken_decoder import read_brokenly
from tests.server.slow_decoder import SLOW_WIDTH_PX, read_slowly


def test_a_child_killed_from_outside_neither_hangs_the_shutdown_nor_the_next_read(
    write_cr: Callable[..., Path],
) -> None:
    """``systemctl stop`` signals the whole process group: the child dies first, then the parent
    shuts down. A multiprocessing pool hung in terminate() here, on a lock the dead child held."""
    decoder = ImageDecoder(timeout_s=30)
    path = write_cr()
    assert decoder.read(path).shape
    child = decoder._child
    assert child is not None and child.pid is not None
    os.kill(child.pid, signal.SIGTERM)
    child.join(10)
    started = time.monotonic()
    decoder.close()
    assert time.monotonic() - started < 5
    assert decoder.read(path).shape  # a fresh child
    child = decoder._child
    assert child is not None and child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert decoder.read(path).shape  # a dead child is noticed and replaced before the read
    decoder.close()


def test_a_read_over_the_limit_is_abandoned_and_the_next_one_works(write_cr: Callable[..., Path]) -> None:
    decoder = ImageDecoder(timeout_s=3, decode=read_slowly)
    try:
        with pytest.raises(ReadTimeoutError, match="longer than 3 s"):
            decoder.read(write_cr(np.full((120, SLOW_WIDTH_PX), 900, np.uint16)))
        assert decoder.read(write_cr()).shape
    finally:
        decoder.close()


def test_a_decoder_failure_is_raised_in_the_parent(write_cr: Callable[..., Path]) -> None:
    decoder = ImageDecoder(timeout_s=30, decode=read_brokenly)
    try:
        with pytest.raises(RuntimeError, match="decoder bug"):
            decoder.read(write_cr())
    finally:
        decoder.close()
    assert issubclass(ReadTimeoutError, ImageReadError)
