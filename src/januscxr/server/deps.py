"""Request dependencies: the reading room's state, the logged-in user, roles, CSRF and the worklist's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates
from pydantic import BeforeValidator

from januscxr.errors import AccessDeniedError, AuthenticationError
from januscxr.labels import Finding
from januscxr.server.inference import InferencePool
from januscxr.server.ingest import FolderWatcher
from januscxr.server.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, token_digest, tokens_match
from januscxr.server.settings import Settings
from januscxr.storage import studies
from januscxr.storage.database import Database
from januscxr.storage.tables import ReportStatus, Role, User
from januscxr.storage.users import find_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_RECORD_ID = 2**63 - 1  # the largest id a 64-bit column holds; larger ones are refused with 422

RecordId = Annotated[int, PathParam(ge=1, le=MAX_RECORD_ID)]
RecordIdQuery = Annotated[int | None, Query(ge=1, le=MAX_RECORD_ID)]


def _finding(value: Any) -> Finding:
    """A finding's name or value (``pneumothorax``, ``Pleural Effusion``)."""
    if not isinstance(value, str | Finding):
        raise ValueError(f"expected a finding name, got {type(value).__name__}")
    return Finding.coerce(value)


def _finding_or_none(value: Any) -> Finding | None:
    return None if value is None or value == "" else _finding(value)


# Unknown names fail validation (422 naming the parameter) instead of raising from the handler.
FindingParam = Annotated[Finding, BeforeValidator(_finding)]
FindingFilter = Annotated[Finding | None, BeforeValidator(_finding_or_none), Query()]


async def worklist_query(
    *,
    status: Annotated[list[ReportStatus] | None, Query()] = None,
    finding: FindingFilter = None,
    received_from: date | None = None,
    received_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_RECORD_ID)] = 0,
    search: Annotated[str | None, Query(max_length=studies.SEARCH_MAX_CHARS)] = None,
    sort: studies.WorklistSort = studies.WorklistSort.URGENCY,
    order: Literal["asc", "desc"] = "asc",
) -> studies.WorklistQuery:
    """The worklist's filters from the query string, the same for the API and the page (whose
    filter form is rendered back from them); study-mode rules apply later, per reader."""
    return studies.WorklistQuery(
        statuses=tuple(status or ()),
        finding=finding,
        received_from=received_from,
        received_to=received_to,
        search=search,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )


WorklistParams = Annotated[studies.WorklistQuery, Depends(worklist_query)]


def client_address(request: Request) -> str:
    """The peer's address (behind a proxy, run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client else "unknown"


@dataclass
class ReadingRoom:
    """Everything a request handler needs, built once by the app factory."""

    settings: Settings
    db: Database
    pool: InferencePool
    templates: Jinja2Templates
    watcher: FolderWatcher | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


@dataclass(frozen=True)
class Principal:
    """The logged-in user of a request and the CSRF token of their session."""

    user: User
    csrf_token: str

    @property
    def role(self) -> Role:
        return Role(self.user.role)


async def reading_room(request: Request) -> ReadingRoom:
    room: ReadingRoom = request.app.state.room
    return room


Room = Annotated[ReadingRoom, Depends(reading_room)]


async def authenticated(request: Request, room: Room) -> Principal:
    """The session cookie's user; raises AuthenticationError (401, or a redirect on pages).

    Asked of the database (in a worker thread) on every request, never remembered in memory: a
    logout or password change in one web process holds at once in all of them. One indexed query
    with the user joined costs about 0.3 ms on SQLite (docs/reading-room.md, "Several web processes")."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError("not logged in; log in at /login")
    principal = await run_in_threadpool(_look_up_session, room, token_digest(token))
    request.state.principal = principal
    return principal


def _look_up_session(room: ReadingRoom, digest: str) -> Principal:
    with room.db.read() as session:
        login = find_session(session, digest)
        if login is None:
            raise AuthenticationError("session expired or unknown; log in again at /login")
        return Principal(user=login.user, csrf_token=login.csrf_token)


async def csrf_protected(request: Request, principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """On POST, PUT, PATCH and DELETE: the session's CSRF token, in the header or the form."""
    if request.method in SAFE_METHODS:
        return principal
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not tokens_match(principal.csrf_token, given):
        raise AccessDeniedError("missing or wrong CSRF token; reload the page and try again")
    return principal


CurrentUser = Annotated[Principal, Depends(csrf_protected)]


def require_role(*roles: Role) -> object:
    """A dependency refusing users whose role is not one of ``roles``."""

    async def check(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise AccessDeniedError(f"user {principal.user.username!r} is a {principal.role.value}; expected {allowed}")
        return principal

    return Depends(check)


Reader = Annotated[Principal, require_role(Role.RADIOLOGIST, Role.RESIDENT)]
Admin = Annotated[Principal, require_role(Role.ADMIN)]
AnyUser = CurrentUser
