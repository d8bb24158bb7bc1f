"""Logging in and out: throttle, argon2 check, session row, HttpOnly SameSite cookie, audit."""

from __future__ import annotations

import logging

from fastapi import Request, Response

from januscxr.errors import AuthenticationError, JanusCxrError, LoginRateLimitedError
from januscxr.server.deps import Principal, ReadingRoom, client_address
from januscxr.server.security import SESSION_COOKIE, new_token, token_digest, verify_password
from januscxr.storage import audit
from januscxr.storage.users import (
    end_session,
    find_user,
    release_login_attempt,
    reserve_login_attempt,
    start_session,
)

logger = logging.getLogger(__name__)

MAX_AUDITED_NAME = 64


def log_in(room: ReadingRoom, request: Request, response: Response, username: str, password: str) -> Principal:
    """Check the password and set the session cookie.

    An attempt is counted per account and per address in the database before the (slow) password
    check and given back when the password is right, so concurrent guesses cannot overrun the limits."""
    tried, address = username[:MAX_AUDITED_NAME], client_address(request)
    if not username.isprintable():
        raise AuthenticationError("the user name has control characters; expected letters, digits and punctuation")
    request.state.login_username = tried  # for the audit of a refusal (app's error handler)
    settings = room.settings
    limits = {
        f"user:{tried.lower()}": settings.login_max_failures,
        f"ip:{address}": settings.login_max_failures_per_address,
    }
    with room.db.write() as session:
        wait_s = reserve_login_attempt(session, limits, window_s=settings.login_window_s)
    if wait_s is not None:
        raise LoginRateLimitedError(
            f"too many failed logins for this account or address; try again in {int(wait_s) + 1} s"
        )
    with room.db.read() as session:
        user = find_user(session, username)
        password_hash = user.password_hash if user else None
    if user is None or not verify_password(password_hash, password):
        with room.db.write() as session:
            detail = {"username": tried, "address": address, "known_user": user is not None}
            audit.record_event(session, "login_failed", detail=detail)
        raise AuthenticationError("wrong user name or password")
    token, csrf = new_token(), new_token()
    with room.db.write() as session:
        release_login_attempt(session, limits)
        start_session(
            session, user, token_sha256=token_digest(token), csrf_token=csrf, ttl_s=room.settings.session_ttl_s
        )
        audit.record_event(session, "login", user=user, detail={"address": address})
    set_session_cookie(room, response, token)
    logger.info("user %d logged in", user.id)
    return Principal(user=user, csrf_token=csrf)


def log_out(room: ReadingRoom, request: Request, response: Response, principal: Principal) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
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


def record_refusal(room: ReadingRoom, request: Request, status: int, error: JanusCxrError) -> None:
    """Audit a refused request (403, 429): who if known, the user name tried at a login, from where, what."""
    principal: Principal | None = getattr(request.state, "principal", None)
    path = "".join(c if c.isprintable() else "?" for c in request.url.path[:200])
    detail: dict[str, object] = {"status": status, "method": request.method, "path": path}
    detail |= {"address": client_address(request), "reason": type(error).__name__}
    tried = getattr(request.state, "login_username", None)
    if tried is not None:
        detail["username"] = tried
    with room.db.write() as session:
        audit.record_event(session, "refused", user=principal.user if principal else None, detail=detail)
