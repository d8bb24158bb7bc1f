"""Users and their login sessions. Passwords arrive hashed; hashing is the server's job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError, NotFoundError
from januscxr.storage.tables import Role, User, UserSession, utcnow


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


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every datetime stored here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
