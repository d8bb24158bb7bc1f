"""Server-rendered pages (Jinja2 + plain JavaScript). Forms carry the session's CSRF token."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from januscxr.errors import AccessDeniedError, EvaluationInputError
from januscxr.eval.reads import Preference
from januscxr.labels import CHEXPERT_14
from januscxr.server import reading, study_mode
from januscxr.server.audit_log import AuditFilters, audit_filters
from januscxr.server.deps import (
    Admin,
    AnyUser,
    Principal,
    ReadingRoom,
    RecordId,
    RecordIdQuery,
    Room,
    WorklistParams,
    csrf_protected,
)
from januscxr.server.headers import study_header
from januscxr.server.ingest import study_label
from januscxr.server.schemas import CaseReferenceUpdate, ReadScoresUpdate
from januscxr.server.security import CSRF_FIELD, LOGIN_CSRF_COOKIE, new_token, tokens_match
from januscxr.server.sessions import log_in, log_out
from januscxr.server.uploads import ingest_uploads
from januscxr.server.worklist_view import worklist_headings, worklist_row
from januscxr.storage import audit, dicomweb, jobs, outbox, studies

public = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])
ADMIN_PAGE = 200  # audit events per page of the admin page
SAVED = r"^(read|case)-[0-9]{1,19}$"  # what the scoring page says it saved, after a redirect


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
def worklist_page(request: Request, room: Room, principal: AnyUser, query: WorklistParams) -> HTMLResponse:
    items = reading.worklist_items(room, principal, query)
    rows = Markup("\n".join(map(worklist_row, items)))
    filters = _worklist_filters(query)
    headings = worklist_headings(filters, query.sort, descending=query.descending)
    context = {"rows": rows, "filters": filters, "findings": CHEXPERT_14, "headings": headings}
    return render(room, request, "worklist.html", principal, **context)


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(study_id: RecordId, request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    study = reading.open_study(room, principal, study_id)
    return render(room, request, "study.html", principal, study=study, study_json=study.model_dump_json())


@router.get("/studies/{study_id}/next")
def next_study(study_id: RecordId, room: Room, principal: AnyUser) -> RedirectResponse:
    """For "sign and next": the next study of the reader's worklist, in its order; the worklist when none is left."""
    next_id = reading.next_study_id(room, principal, study_id)
    return RedirectResponse(f"/studies/{next_id}" if next_id else "/worklist", status_code=303)


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
        label, uid, header = study_label(study), study.study_instance_uid, study_header(study)
    context = {"report": report, "label": label, "study_uid": uid, "header": header}
    return render(room, request, "print.html", principal, **context)


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
def admin_page(
    request: Request,
    room: Room,
    principal: Admin,
    filters: Annotated[AuditFilters, Depends(audit_filters)],
    before_id: RecordIdQuery = None,
    after_id: RecordIdQuery = None,
) -> HTMLResponse:
    """The study mode's reads (each in the export or why not) and the audit log, filtered, 200 events a page."""
    with room.db.read() as session:
        page = audit.page_events(session, filters.where(), before_id=before_id, after_id=after_id, limit=ADMIN_PAGE)
        failed_jobs = jobs.failed_jobs(session)
        polled = dicomweb.server_statuses(session), dicomweb.set_aside_studies(session)
        outbox_items = outbox.outbox_rows(session)
    paged = {"after_id": after_id} if after_id else {}
    detail = {"before_id": before_id, "limit": ADMIN_PAGE} | filters.asked() | paged
    reading.record_access(room, principal, "read_audit", detail=detail)
    reads = study_mode.study_reads(room)
    context = {"page": page, "filters": filters, "reads": reads, "left_out": [r for r in reads if not r.in_export]}
    context["failed_jobs"] = failed_jobs
    context["dicomweb_servers"], context["dicomweb_set_aside"] = polled
    context["outbox_items"] = outbox_items
    return render(room, request, "admin.html", principal, **context)


@router.post("/admin/outbox/{item_id}/retry")
def outbox_retry(item_id: RecordId, room: Room, principal: Admin) -> Response:
    """Send an outbox item again now (a set-aside one, or one waiting out its backoff); audited."""
    with room.db.write() as session:
        item = outbox.retry_item(session, item_id)
        detail = {"outbox_item_id": item_id, "destination": item.destination, "kind": item.kind, "state": item.state}
        audit.record_event(session, "outbox_retry", user=principal.user, study_id=item.study_id, detail=detail)
    return RedirectResponse(f"/admin#outbox-{item_id}", status_code=303)


@router.get("/study-mode/scores", response_class=HTMLResponse)
def scores_page(
    request: Request, room: Room, principal: Admin, saved: Annotated[str | None, Query(pattern=SAVED)] = None
) -> HTMLResponse:
    """The expert panel's scores, entered per read and per case."""
    return _scores(request, room, principal, saved=saved)


@router.post("/study-mode/reads/{reading_id}/scores")
def scores_submit(
    reading_id: RecordId,
    request: Request,
    room: Room,
    principal: Admin,
    quality_score: Annotated[str, Form(max_length=32)] = "",
    agreement_score: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    values = {"quality_score": quality_score, "agreement_score": agreement_score}
    try:
        scores = study_mode.parse_form(ReadScoresUpdate, values, where=f"read {reading_id}")
    except EvaluationInputError as error:
        return _scores(request, room, principal, error=str(error))
    study_mode.score_read(room, principal, reading_id, scores)
    return RedirectResponse(f"/study-mode/scores?saved=read-{reading_id}#read-{reading_id}", status_code=303)


@router.post("/study-mode/cases/{study_id}/reference")
def reference_submit(
    study_id: RecordId,
    request: Request,
    room: Room,
    principal: Admin,
    expert_preference: Annotated[str, Form(max_length=32)] = "",
    n_findings: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    values = {"expert_preference": expert_preference, "n_findings": n_findings}
    try:
        reference = study_mode.parse_form(CaseReferenceUpdate, values, where=f"case {study_id}")
    except EvaluationInputError as error:
        return _scores(request, room, principal, error=str(error))
    study_mode.set_reference(room, principal, study_id, reference)
    return RedirectResponse(f"/study-mode/scores?saved=case-{study_id}#case-{study_id}", status_code=303)


def _scores(
    request: Request, room: ReadingRoom, principal: Principal, *, saved: str | None = None, error: str | None = None
) -> HTMLResponse:
    cases = study_mode.scored_cases(room)
    context = {"cases": cases, "saved": saved, "error": error, "preferences": [p.value for p in Preference]}
    response = render(room, request, "scores.html", principal, **context)
    response.status_code = 422 if error else 200
    return response


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, room: Room, principal: AnyUser) -> HTMLResponse:
    """A readable listing of the OpenAPI document (no CDN: the reading room runs offline)."""
    return render(room, request, "api_docs.html", principal, spec=request.app.openapi())


def _worklist_filters(query: studies.WorklistQuery) -> dict[str, Any]:
    """The filter form's values, rendered back from the query (the column headings keep them when re-sorting)."""
    return {
        "status": [s.value for s in query.statuses],
        "limit": query.limit,
        "finding": query.finding.value if query.finding else "",
        "received_from": query.received_from or "",
        "received_to": query.received_to or "",
        "search": query.search or "",
    }


def _local(target: str) -> str:
    """Only same-site redirects after login."""
    return target if target.startswith("/") and not target.startswith("//") else "/worklist"


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
