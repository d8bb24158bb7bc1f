"""The login throttle's counters: one attempt reserved atomically per key, before the password check."""

from __future__ import annotations

import threading
import time

from januscxr.storage.database import Database
from januscxr.storage.tables import LoginCounter
from januscxr.storage.users import release_login_attempt, reserve_login_attempt

LIMITS = {"user:rad": 3, "ip:10.0.0.1": 5}


def reserve(db: Database, limits: dict[str, int], window_s: float = 300.0) -> float | None:
    with db.write() as session:
        return reserve_login_attempt(session, limits, window_s=window_s)


def failures(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {c.key: c.failures for c in session.query(LoginCounter)}


def test_attempts_count_per_key_until_one_is_full(db: Database) -> None:
    assert [reserve(db, LIMITS) for _ in range(3)] == [None, None, None]
    wait_s = reserve(db, LIMITS)
    assert wait_s is not None and 299 < wait_s <= 300
    assert failures(db) == {"user:rad": 3, "ip:10.0.0.1": 3}  # a refused attempt counts nowhere
    assert reserve(db, {"user:rad2": 3, "ip:10.0.0.1": 5}) is None  # a colleague at the same address
    assert reserve(db, {"user:rad2": 3, "ip:10.0.0.1": 5}) is None
    assert reserve(db, {"user:rad3": 3, "ip:10.0.0.1": 5}) is not None  # the address is full now


def test_a_right_password_gives_its_attempt_back(db: Database) -> None:
    assert reserve(db, LIMITS) is None
    with db.write() as session:
        release_login_attempt(session, LIMITS)
        release_login_attempt(session, LIMITS)  # never below zero
    assert failures(db) == {"user:rad": 0, "ip:10.0.0.1": 0}


def test_the_window_ends(db: Database) -> None:
    for _ in range(3):
        reserve(db, LIMITS, window_s=0.5)
    assert reserve(db, LIMITS, window_s=0.5) is not None
    time.sleep(0.6)
    assert reserve(db, LIMITS, window_s=0.5) is None
    assert failures(db)["user:rad"] == 1


def test_concurrent_attempts_never_overrun_the_limit(db: Database) -> None:
    barrier, outcomes, lock = threading.Barrier(24), [], threading.Lock()

    def attempt() -> None:
        barrier.wait()
        outcome = reserve(db, LIMITS)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(None) == 3 and len(outcomes) == 24
    assert failures(db) == {"user:rad": 3, "ip:10.0.0.1": 3}
