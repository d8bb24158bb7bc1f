"""Users and their login sessions. Passwords arrive hashed; hashing is the server's job."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError, NotFoundError
from januscxr.storage.tables import LoginCounter, Role, User, UserSession, utcnow

# INSERT ... ON CONFLICT DO NOTHING, so that two first attempts at once both find the row.
_INSERTS: dict[str, Callable[..., Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def add_user(
    session: Session, username: str, password_hash: str, role: str | Role, *, display_name: str | None = None
) -> User:
    """Create an account; raises :class:`ConflictError` when the user name is taken."""
    role = Role(role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} already exists; expected a new user name")
    user = User(username=username, password_hash=password_hash, role=role.value, display_name=display_name or username)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count(User.id))) or 0)


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def start_session(session: Session, user: User, *, token_sha256: str, csrf_token: str, ttl_s: float) -> UserSession:
    """Record a login; the cookie holds the token whose sha256 is stored."""
    login = UserSession(
        token_sha256=token_sha256,
        csrf_token=csrf_token,
        user_id=user.id,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(login)
    session.flush()
    return login


def find_session(session: Session, token_sha256: str) -> UserSession | None:
    """The unexpired login of an active user with that token hash, or None."""
    login = session.scalar(select(UserSession).where(UserSession.token_sha256 == token_sha256))
    if login is None or as_utc(login.expires_at) <= utcnow() or not login.user.is_active:
        return None
    return login


def end_session(session: Session, token_sha256: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_sha256 == token_sha256))


def reserve_login_attempt(session: Session, limits: Mapping[str, int], *, window_s: float) -> float | None:
    """Count one login attempt against every key (``user:<name>``, ``ip:<address>``) of ``limits``,
    key -> attempts allowed per window, before the password is checked.

    The counter rows are locked for the rest of the transaction (PostgreSQL ``SELECT ... FOR
    UPDATE``; SQLite's write transactions are serial already), so concurrent attempts queue and
    no more than the limit ever reach the password check. Returns None when the attempt is
    counted, or the seconds until the fullest key's window ends when one is at its limit (then
    nothing is counted). Give a successful attempt back with :func:`release_login_attempt`.
    """
    now = utcnow()
    keys = sorted(limits)
    insert = _INSERTS[session.get_bind().dialect.name]
    rows = [{"key": key, "window_started_at": now, "failures": 0} for key in keys]
    session.execute(insert(LoginCounter).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    query = select(LoginCounter).where(LoginCounter.key.in_(keys)).order_by(LoginCounter.key).with_for_update()
    counters = list(session.scalars(query.execution_options(populate_existing=True)))
    window = timedelta(seconds=window_s)
    for counter in counters:
        if as_utc(counter.window_started_at) + window <= now:
            counter.window_started_at, counter.failures = now, 0
    full = [c for c in counters if c.failures >= limits[c.key]]
    if not full:
        for counter in counters:
            counter.failures += 1
    session.flush()
    prune_login_counters(session, started_before=now - 2 * window)
    if full:
        return max((as_utc(c.window_started_at) + window - now).total_seconds() for c in full)
    return None


PRUNE_BATCH = 100  # counters deleted per attempt at most: a scan's leftovers go over a few attempts


def prune_login_counters(session: Session, *, started_before: datetime) -> int:
    """Delete up to :data:`PRUNE_BATCH` counters whose window began before ``started_before``.

    :func:`reserve_login_attempt` calls it with its own keys already locked and reset, passing the
    start of windows that ended more than one window ago, so that names tried once (a scan of user
    names) do not pile up. On PostgreSQL counters another attempt holds are skipped, never waited
    for (``FOR UPDATE SKIP LOCKED``), so attempts cannot deadlock here. Returns the rows deleted.
    """
    stale = (
        select(LoginCounter.key)
        .where(LoginCounter.window_started_at < started_before)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    statement = delete(LoginCounter).where(LoginCounter.key.in_(stale)).execution_options(synchronize_session=False)
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def release_login_attempt(session: Session, keys: Collection[str]) -> None:
    """Give back an attempt counted by :func:`reserve_login_attempt` (the password was right)."""
    session.execute(
        update(LoginCounter)
        .where(LoginCounter.key.in_(list(keys)), LoginCounter.failures > 0)
        .values(failures=LoginCounter.failures - 1)
        .execution_options(synchronize_session=False)
    )


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every datetime stored here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
