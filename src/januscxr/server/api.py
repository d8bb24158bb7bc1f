"""The REST API under /api. Every route but login needs a session; writes need the CSRF header."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import Field

from januscxr.errors import NotFoundError
from januscxr.server import reading, study_mode
from januscxr.server.audit_log import AuditFilters, audit_csv, audit_filters
from januscxr.server.deps import (
    MAX_RECORD_ID,
    Admin,
    AnyUser,
    FindingParam,
    Reader,
    RecordId,
    RecordIdQuery,
    Room,
    WorklistParams,
    csrf_protected,
)
from januscxr.server.schemas import (
    ActivityCreate,
    AddendumCreate,
    AiReadStatusPublic,
    AuditEventPublic,
    CaseReferenceUpdate,
    IngestPublic,
    LoginCreate,
    ReadScoresUpdate,
    ReportPublic,
    ReportUpdate,
    SessionPublic,
    StudyPublic,
    StudyReadPublic,
    VersionPublic,
    WorklistItemPublic,
)
from januscxr.server.sessions import log_in, log_out
from januscxr.server.uploads import ingest_uploads
from januscxr.storage import audit, studies
from januscxr.storage.tables import AiResult
from januscxr.storage.users import as_utc

RecordIdItem = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]

public = APIRouter(prefix="/api", tags=["session"])
router = APIRouter(prefix="/api", dependencies=[Depends(csrf_protected)])


@public.post("/session", response_model=SessionPublic)
def create_session(body: LoginCreate, request: Request, response: Response, room: Room) -> SessionPublic:
    """Log in with JSON; sets the HttpOnly session cookie and returns the CSRF token."""
    principal = log_in(room, request, response, body.username, body.password)
    return SessionPublic(username=principal.user.username, role=principal.role.value, csrf_token=principal.csrf_token)


@router.delete("/session", status_code=204, tags=["session"])
def delete_session(request: Request, response: Response, room: Room, principal: AnyUser) -> None:
    log_out(room, request, response, principal)


@router.get("/me", response_model=SessionPublic, tags=["session"])
def me(principal: AnyUser) -> SessionPublic:
    return SessionPublic(username=principal.user.username, role=principal.role.value, csrf_token=principal.csrf_token)


@router.get("/worklist", response_model=list[WorklistItemPublic], response_class=JSONResponse, tags=["worklist"])
def get_worklist(room: Room, principal: AnyUser, query: WorklistParams) -> JSONResponse:
    """Unsigned studies by default: critical findings first, then those the AI failed or refused,
    then flagged, routine and pending, each by waiting time. ``search``: words found in the patient
    name, patient ID or accession number; ``sort``: a column first, that order after it."""
    items = reading.worklist_items(room, principal, query)
    for item in items:
        item["received_at"] = as_utc(item["received_at"]).isoformat()
    return JSONResponse(items)


@router.post("/studies", response_model=list[IngestPublic], status_code=202, tags=["studies"])
def upload_studies(room: Room, principal: AnyUser, files: Annotated[list[UploadFile], File()]) -> list[IngestPublic]:
    """Upload DICOM, PNG or JPEG files; DICOM files join their study. The model reads them in the background."""
    return [IngestPublic(**vars(outcome)) for outcome in ingest_uploads(room, principal, files)]


@router.get("/ai-reads", response_model=list[AiReadStatusPublic], tags=["studies"])
def ai_reads(
    room: Room, principal: AnyUser, study_id: Annotated[list[RecordIdItem] | None, Query(max_length=200)] = None
) -> list[AiReadStatusPublic]:
    """Where the AI reads of these studies stand: pending, done, failed or refused, and why (the upload page)."""
    return reading.ai_read_statuses(room, principal, study_id or [])


@router.get("/studies/{study_id}", response_model=StudyPublic, tags=["studies"])
def get_study(study_id: RecordId, room: Room, principal: AnyUser) -> StudyPublic:
    return reading.open_study(room, principal, study_id)


@router.get("/images/{image_id}/display.png", response_class=FileResponse, tags=["studies"])
def display_image(image_id: RecordId, room: Room, principal: AnyUser) -> FileResponse:
    with room.db.read() as session:
        image = studies.get_image(session, image_id)
    if image.display_path is None:
        raise NotFoundError(f"image {image_id} is not decoded yet")
    reading.record_access(room, principal, "view_image", study_id=image.study_id, detail={"image_id": image_id})
    return FileResponse(room.data_dir / image.display_path, media_type="image/png", headers=_PRIVATE)


@router.get("/ai-results/{result_id}/heatmaps/{finding}.png", tags=["studies"])
def heatmap(result_id: RecordId, finding: FindingParam, room: Room, principal: AnyUser) -> Response:
    with room.db.read() as session:
        result = session.get(AiResult, result_id)
        uid = studies.get_study(session, result.study_id).study_instance_uid if result else ""
        if result is None or reading.arm_of(room, principal, uid) == "standard":
            raise NotFoundError(f"no AI result with id {result_id}")
        png = studies.get_heatmap(session, result_id, finding).png
    detail = {"ai_result_id": result_id, "finding": finding.value}
    reading.record_access(room, principal, "view_heatmap", study_id=result.study_id, detail=detail)
    return Response(png, media_type="image/png", headers=_PRIVATE)


@router.get("/studies/{study_id}/report", response_model=ReportPublic, tags=["reports"])
def get_report(study_id: RecordId, room: Room, principal: AnyUser) -> ReportPublic:
    return reading.read_report(room, principal, study_id)


@router.put("/studies/{study_id}/report", response_model=ReportPublic, tags=["reports"])
def save_report(study_id: RecordId, body: ReportUpdate, room: Room, principal: Reader) -> ReportPublic:
    """Save the draft edited on ``revision``; 409 when someone saved or signed since."""
    return reading.save_draft(room, principal, study_id, body)


@router.post("/studies/{study_id}/report/sign", response_model=ReportPublic, tags=["reports"])
def sign_report(study_id: RecordId, body: ReportUpdate, room: Room, principal: Reader) -> ReportPublic:
    """Sign (a resident's signature is preliminary until a radiologist co-signs); 409 on a race."""
    return reading.sign(room, principal, study_id, body)


@router.post("/studies/{study_id}/report/addenda", response_model=ReportPublic, status_code=201, tags=["reports"])
def add_addendum(study_id: RecordId, body: AddendumCreate, room: Room, principal: Reader) -> ReportPublic:
    return reading.add_addendum(room, principal, study_id, body.text)


@router.get("/studies/{study_id}/report/versions", response_model=list[VersionPublic], tags=["reports"])
def report_versions(study_id: RecordId, room: Room, principal: AnyUser) -> list[VersionPublic]:
    versions = [version for version, _ in reading.versions_with_diffs(room, principal, study_id)]
    reading.record_access(room, principal, "read_versions", study_id=study_id)
    return versions


@router.post("/studies/{study_id}/activity", status_code=204, tags=["reading time"])
def report_activity(study_id: RecordId, body: ActivityCreate, room: Room, principal: Reader) -> None:
    """Active reading time since the last report; idle gaps are not counted."""
    reading.record_activity(room, principal, study_id, body.active_ms)


@router.get("/audit", response_model=list[AuditEventPublic], tags=["admin"])
def audit_log(
    room: Room,
    principal: Admin,
    filters: Annotated[AuditFilters, Depends(audit_filters)],
    before_id: RecordIdQuery = None,
    after_id: RecordIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 200,
) -> list[AuditEventPublic]:
    """The latest events first, filtered by action, user name, study and UTC days (``date_to`` included);
    page on with ``before_id`` = the smallest id of the page before (``after_id``: back to newer ones)."""
    with room.db.read() as session:
        events = audit.list_events(session, filters.where(), before_id=before_id, after_id=after_id, limit=limit)
        page = [AuditEventPublic.model_validate(e, from_attributes=True) for e in events]
    detail = {"study_id": filters.study_id, "before_id": before_id, "limit": limit}
    paged = {"after_id": after_id} if after_id else {}
    reading.record_access(room, principal, "read_audit", detail=detail | filters.asked() | paged)
    return page


@router.get("/audit.csv", response_class=StreamingResponse, tags=["admin"])
def export_audit(room: Room, principal: Admin, filters: Annotated[AuditFilters, Depends(audit_filters)]) -> Response:
    """The filtered events as CSV, latest first (ids and statuses; never report text)."""
    reading.record_access(room, principal, "export_audit", detail=filters.asked())
    headers = {"Content-Disposition": 'attachment; filename="audit.csv"', "Cache-Control": "no-store"}
    return StreamingResponse(audit_csv(room, filters), media_type="text/csv", headers=headers)


@router.get("/study-mode/reads", response_model=list[StudyReadPublic], tags=["study mode"])
def list_reads(room: Room, principal: Admin) -> list[StudyReadPublic]:
    reads = study_mode.exported_reads(room)
    reading.record_access(room, principal, "read_reads", detail={"reads": len(reads)})
    return reads


@router.get("/study-mode/reads.csv", response_class=PlainTextResponse, tags=["study mode"])
def export_reads(room: Room, principal: Admin) -> PlainTextResponse:
    """The reads CSV that ``januscxr eval`` analyses (columns of januscxr.eval.reads); 409 naming
    the reads when a signed study-mode read would be left out."""
    headers = {"Content-Disposition": 'attachment; filename="reads.csv"', **_PRIVATE}
    text = study_mode.reads_csv(room)
    reading.record_access(room, principal, "export_reads", detail={"reads": text.count("\n") - 1})
    return PlainTextResponse(text, media_type="text/csv", headers=headers)


@router.put("/study-mode/reads/{reading_id}/scores", status_code=204, tags=["study mode"])
def score_read(reading_id: RecordId, body: ReadScoresUpdate, room: Room, principal: Admin) -> None:
    study_mode.score_read(room, principal, reading_id, body)


@router.put("/study-mode/cases/{study_id}/reference", status_code=204, tags=["study mode"])
def set_reference(study_id: RecordId, body: CaseReferenceUpdate, room: Room, principal: Admin) -> None:
    study_mode.set_reference(room, principal, study_id, body)


_PRIVATE = {"Cache-Control": "private, max-age=300"}
