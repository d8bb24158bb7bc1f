"""Server-rendered pages (Jinja2 + plain JavaScript). Forms carry the session's CSRF token."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from januscxr.errors import AccessDeniedError
from januscxr.labels import CHEXPERT_14
from januscxr.server import reading
from januscxr.server.deps import (
    Admin,
    AnyUser,
    FindingFilter,
    Principal,
    ReadingRoom,
    RecordId,
    RecordIdQuery,
    Room,
    csrf_protected,
)
from januscxr.server.ingest import study_label
from januscxr.server.security import CSRF_FIELD, LOGIN_CSRF_COOKIE, new_token, tokens_match
from januscxr.server.sessions import log_in, log_out
from januscxr.server.uploads import ingest_uploads
from januscxr.storage import audit, studies
from januscxr.storage.tables import ReportStatus

public = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])
ADMIN_PAGE = 200  # audit events per page of the admin page


def render(room: ReadingRoom, request: Request, name: str, principal: Principal | None, **context: Any) -> HTMLResponse:
    context |= {"principal": principal, "settings": room.settings, "csrf_field": CSRF_FIELD}
    response = room.templates.TemplateResponse(request, name, context)
    response.headers["Cache-Control"] = "no-store"
    return response


@public.get("/login", response_class=HTMLResponse)
def login_page(request: Request, room: Room, next: str = "/worklist", error: str | None = None) -> HTMLResponse:
    token = new_token()
    response = render(room, request, "login.html", None, login_csrf=token, next=_local(next), error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=room.settings.secure_cookies)
    return response


@public.post("/login")
def login_submit(
    request: Request,
    room: Room,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/worklist",
) -> Response:
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise AccessDeniedError("the login form expired; reload the page and try again")
    response = RedirectResponse(_local(next), status_code=303)
    log_in(room, request, response, username, password)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, room: Room, principal: AnyUser) -> Response:
    response = RedirectResponse("/login", status_code=303)
    log_out(room, request, response, principal)
    return response


@router.get("/")
def home(principal: AnyUser) -> Response:
    return RedirectResponse("/worklist", status_code=303)


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    room: Room,
    principal: AnyUser,
    status: Annotated[list[ReportStatus] | None, Query()] = None,
    finding: FindingFilter = None,
    received_from: date | None = None,
    received_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> HTMLResponse:
    query = studies.WorklistQuery(
        statuses=tuple(status or ()),
        finding=finding,
        received_from=received_from,
        received_to=received_to,
        limit=limit,
    )
    items = reading.worklist_items(room, principal, query)
    rows = Markup("\n".join(map(_worklist_row, items)))
    filters: dict[str, object] = {"status": [s.value for s in status or ()], "limit": limit}
    filters["finding"] = finding.value if finding else ""
    filters |= {"received_from": received_from or "", "received_to": received_to or ""}
    return render(room, request, "worklist.html", principal, rows=rows, filters=filters, findings=CHEXPERT_14)


def _worklist_row(item: dict[str, Any]) -> str:
    """One worklist row as HTML. Built here rather than in the template: a 10,000-study worklist
    renders about three times faster (docs/benchmarks.md, "Reading room"). Every text is escaped."""
    priority, study_id = escape(item["priority"]), int(item["study_id"])
    return (
        f'<tr class="p-{priority}" data-study-id="{study_id}">'
        f'<td><span class="badge {priority}">{priority}</span></td>'
        f'<td><a href="/studies/{study_id}">{escape(item["label"])}</a></td>'
        f"<td>{escape(', '.join(item['flagged_findings']))}</td>"
        f"<td>{item['waiting_min']:.0f} min</td><td>{int(item['n_images'])}</td>"
        f"<td>{escape(item['report_status'])}</td></tr>"
    )


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(study_id: RecordId, request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    study = reading.open_study(room, principal, study_id)
    return render(room, request, "study.html", principal, study=study, study_json=study.model_dump_json())


@router.get("/studies/{study_id}/history", response_class=HTMLResponse)
def history_page(study_id: RecordId, request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    versions = reading.versions_with_diffs(room, principal, study_id)
    report = reading.report_of(room, principal, study_id)
    reading.record_access(room, principal, "history", study_id=study_id, report_id=report.id)
    return render(room, request, "history.html", principal, versions=versions, report=report, study_id=study_id)


@router.get("/studies/{study_id}/print", response_class=HTMLResponse)
def print_page(study_id: RecordId, request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    report = reading.report_of(room, principal, study_id)
    with room.db.write() as session:
        study = studies.get_study(session, study_id)
        audit.record_event(session, "print", user=principal.user, study_id=study_id, report_id=report.id)
        label, uid = study_label(study), study.study_instance_uid
    return render(room, request, "print.html", principal, report=report, label=label, study_uid=uid)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    return render(room, request, "upload.html", principal, outcomes=None)


@router.post("/upload", response_class=HTMLResponse)
def upload_submit(
    request: Request, room: Room, principal: AnyUser, files: Annotated[list[UploadFile], File()]
) -> HTMLResponse:
    outcomes = ingest_uploads(room, principal, files)
    return render(room, request, "upload.html", principal, outcomes=outcomes)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, room: Room, principal: Admin, before_id: RecordIdQuery = None) -> HTMLResponse:
    """The audit log, 200 events a page (the API's paging), and the study mode's reads."""
    with room.db.read() as session:
        events = audit.list_events(session, before_id=before_id, limit=ADMIN_PAGE)
    reading.record_access(room, principal, "read_audit", detail={"before_id": before_id, "limit": ADMIN_PAGE})
    reads = reading.study_reads(room) if room.settings.study_mode else []
    older = events[-1].id if len(events) == ADMIN_PAGE else None
    return render(room, request, "admin.html", principal, events=events, reads=reads, older=older)


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    """A readable listing of the OpenAPI document (no CDN: the reading room runs offline)."""
    return render(room, request, "api_docs.html", principal, spec=request.app.openapi())


def _local(target: str) -> str:
    """Only same-site redirects after login."""
    return target if target.startswith("/") and not target.startswith("//") else "/worklist"


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
