"""Logging in and out: argon2 check, throttle, session row, HttpOnly SameSite cookie, audit."""

from __future__ import annotations

import logging

from fastapi import Request, Response

from januscxr.errors import AuthenticationError
from januscxr.server.deps import Principal, ReadingRoom
from januscxr.server.security import SESSION_COOKIE, new_token, token_digest, verify_password
from januscxr.storage import audit
from januscxr.storage.users import end_session, find_user, start_session

logger = logging.getLogger(__name__)


def log_in(room: ReadingRoom, request: Request, response: Response, username: str, password: str) -> Principal:
    """Check the password (rate-limited per address and per user name) and set the session cookie."""
    address = request.client.host if request.client else "unknown"
    keys = (f"ip:{address}", f"user:{username.lower()}")
    room.throttle.check(*keys)
    with room.db.read() as session:
        user = find_user(session, username)
        password_hash = user.password_hash if user else None
    if user is None or not verify_password(password_hash, password):
        room.throttle.fail(*keys)
        with room.db.write() as session:
            audit.record_event(session, "login_failed", detail={"known_user": user is not None})
        raise AuthenticationError("wrong user name or password")
    room.throttle.succeed(*keys)
    token, csrf = new_token(), new_token()
    with room.db.write() as session:
        start_session(
            session, user, token_sha256=token_digest(token), csrf_token=csrf, ttl_s=room.settings.session_ttl_s
        )
        audit.record_event(session, "login", user=user)
    set_session_cookie(room, response, token)
    logger.info("user %d logged in", user.id)
    return Principal(user=user, csrf_token=csrf)


def log_out(room: ReadingRoom, request: Request, response: Response, principal: Principal) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    room.logins.drop(token_digest(token))
    with room.db.write() as session:
        end_session(session, token_digest(token))
        audit.record_event(session, "logout", user=principal.user)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=room.settings.secure_cookies
    )


def set_session_cookie(room: ReadingRoom, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(room.settings.session_ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=room.settings.secure_cookies,
    )
