"""The login throttle's counters: one attempt reserved atomically per key, before the password check."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from januscxr.storage import users
from januscxr.storage.database import Database
from januscxr.storage.tables import LoginCounter
from januscxr.storage.users import PRUNE_BATCH, release_login_attempt, reserve_login_attempt

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


def count_counters(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(LoginCounter)) or 0)


@pytest.mark.slow  # 10,000 write transactions: 13 s on SQLite, 30 s on PostgreSQL
def test_a_scan_of_user_names_leaves_a_bounded_table_and_the_throttle_working(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [datetime(2026, 11, 29, tzinfo=UTC)]
    monkeypatch.setattr(users, "utcnow", lambda: clock[0])
    for n in range(10_000):  # one new name a second from one address, over 166 windows of 60 s
        clock[0] += timedelta(seconds=1)
        assert reserve(db, {f"user:scan{n}": 3, "ip:10.0.0.9": 100}, window_s=60) is None
    left = count_counters(db)
    assert left <= 2 * 60 + 2  # the names of the last two windows and the address; without pruning 10,001
    assert [reserve(db, LIMITS, window_s=60) for _ in range(4)][3] == 60  # the throttle still refuses
    clock[0] += timedelta(minutes=10)  # every counter's window ended long ago: PRUNE_BATCH go per attempt
    assert reserve(db, {"user:late": 3}, window_s=60) is None
    assert count_counters(db) == left + 2 - PRUNE_BATCH + 1
    assert reserve(db, {"user:late": 3}, window_s=60) is None
    assert failures(db) == {"user:late": 2}


def test_concurrent_attempts_prune_stale_counters_without_deadlock(db: Database) -> None:
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    with db.write() as session:
        session.add_all(LoginCounter(key=f"user:old{n}", window_started_at=long_ago, failures=1) for n in range(600))
    barrier, outcomes, lock = threading.Barrier(24), [], threading.Lock()

    def attempt(n: int) -> None:
        barrier.wait()
        outcome = reserve(db, {f"user:new{n}": 3, "ip:10.0.0.1": 5})
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(None) == 5 and len(outcomes) == 24  # the address's limit holds
    assert not any(key.startswith("user:old") for key in failures(db))  # 24 attempts, 100 each at most
