"""The REST API under /api. Every route but login needs a session; writes need the CSRF header."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from januscxr.errors import NotFoundError
from januscxr.labels import Finding
from januscxr.server import reading
from januscxr.server.deps import Admin, AnyUser, Principal, Reader, ReadingRoom, Room, csrf_protected
from januscxr.server.ingest import IngestOutcome, ingest_file
from januscxr.server.schemas import (
    ActivityCreate,
    AddendumCreate,
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
from januscxr.storage import audit, studies
from januscxr.storage import reading as reading_store
from januscxr.storage.tables import AiResult, ReportStatus
from januscxr.storage.users import as_utc

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
def get_worklist(
    room: Room,
    principal: AnyUser,
    status: Annotated[list[ReportStatus] | None, Query()] = None,
    finding: Annotated[str | None, Query()] = None,
    received_from: date | None = None,
    received_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """Unsigned studies by default: critical findings first, then by waiting time."""
    query = studies.WorklistQuery(
        statuses=tuple(status or ()),
        finding=Finding.coerce(finding) if finding else None,
        received_from=received_from,
        received_to=received_to,
        limit=limit,
        offset=offset,
    )
    items = reading.worklist_items(room, principal, query)
    for item in items:
        item["received_at"] = as_utc(item["received_at"]).isoformat()
    return JSONResponse(items)


@router.post("/studies", response_model=list[IngestPublic], status_code=202, tags=["studies"])
def upload_studies(room: Room, principal: AnyUser, files: Annotated[list[UploadFile], File()]) -> list[IngestPublic]:
    """Upload DICOM, PNG or JPEG files; DICOM files join their study. The model reads them in the background."""
    return [IngestPublic(**vars(outcome)) for outcome in ingest_uploads(room, principal, files)]


@router.get("/studies/{study_id}", response_model=StudyPublic, tags=["studies"])
def get_study(study_id: int, room: Room, principal: AnyUser) -> StudyPublic:
    return reading.open_study(room, principal, study_id)


@router.get("/images/{image_id}/display.png", response_class=FileResponse, tags=["studies"])
def display_image(image_id: int, room: Room, principal: AnyUser) -> FileResponse:
    with room.db.read() as session:
        image = studies.get_image(session, image_id)
        if image.display_path is None:
            raise NotFoundError(f"image {image_id} is not decoded yet")
        return FileResponse(room.data_dir / image.display_path, media_type="image/png", headers=_PRIVATE)


@router.get("/ai-results/{result_id}/heatmaps/{finding}.png", tags=["studies"])
def heatmap(result_id: int, finding: str, room: Room, principal: AnyUser) -> Response:
    with room.db.read() as session:
        result = session.get(AiResult, result_id)
        uid = studies.get_study(session, result.study_id).study_instance_uid if result else ""
        if result is None or reading.arm_of(room, principal, uid) == "standard":
            raise NotFoundError(f"no AI result with id {result_id}")
        png = studies.get_heatmap(session, result_id, Finding.coerce(finding)).png
    return Response(png, media_type="image/png", headers=_PRIVATE)


@router.get("/studies/{study_id}/report", response_model=ReportPublic, tags=["reports"])
def get_report(study_id: int, room: Room, principal: AnyUser) -> ReportPublic:
    return reading.report_of(room, principal, study_id)


@router.put("/studies/{study_id}/report", response_model=ReportPublic, tags=["reports"])
def save_report(study_id: int, body: ReportUpdate, room: Room, principal: Reader) -> ReportPublic:
    """Save the draft edited on ``revision``; 409 when someone saved or signed since."""
    return reading.save_draft(room, principal, study_id, body)


@router.post("/studies/{study_id}/report/sign", response_model=ReportPublic, tags=["reports"])
def sign_report(study_id: int, body: ReportUpdate, room: Room, principal: Reader) -> ReportPublic:
    """Sign (a resident's signature is preliminary until a radiologist co-signs); 409 on a race."""
    return reading.sign(room, principal, study_id, body)


@router.post("/studies/{study_id}/report/addenda", response_model=ReportPublic, status_code=201, tags=["reports"])
def add_addendum(study_id: int, body: AddendumCreate, room: Room, principal: Reader) -> ReportPublic:
    return reading.add_addendum(room, principal, study_id, body.text)


@router.get("/studies/{study_id}/report/versions", response_model=list[VersionPublic], tags=["reports"])
def report_versions(study_id: int, room: Room, principal: AnyUser) -> list[VersionPublic]:
    return [version for version, _ in reading.versions_with_diffs(room, principal, study_id)]


@router.post("/studies/{study_id}/activity", status_code=204, tags=["reading time"])
def report_activity(study_id: int, body: ActivityCreate, room: Room, principal: Reader) -> None:
    """Active reading time since the last report; idle gaps are not counted."""
    reading.record_activity(room, principal, study_id, body.active_ms)


@router.get("/audit", response_model=list[AuditEventPublic], tags=["admin"])
def audit_log(room: Room, principal: Admin, study_id: int | None = None, limit: int = 500) -> list[AuditEventPublic]:
    with room.db.read() as session:
        events = audit.list_events(session, study_id=study_id, limit=limit)
        return [AuditEventPublic.model_validate(e, from_attributes=True) for e in events]


@router.get("/study-mode/reads", response_model=list[StudyReadPublic], tags=["study mode"])
def list_reads(room: Room, principal: Admin) -> list[StudyReadPublic]:
    return reading.study_reads(room)


@router.get("/study-mode/reads.csv", response_class=PlainTextResponse, tags=["study mode"])
def export_reads(room: Room, principal: Admin) -> PlainTextResponse:
    """The reads CSV that ``januscxr eval`` analyses (columns of januscxr.eval.reads)."""
    headers = {"Content-Disposition": 'attachment; filename="reads.csv"', **_PRIVATE}
    return PlainTextResponse(reading.reads_csv(room), media_type="text/csv", headers=headers)


@router.put("/study-mode/reads/{reading_id}/scores", status_code=204, tags=["study mode"])
def score_read(reading_id: int, body: ReadScoresUpdate, room: Room, principal: Admin) -> None:
    with room.db.write() as session:
        reading_store.rate_read(session, reading_id, **body.model_dump())
        audit.record_event(session, "score_read", user=principal.user, detail={"reading_id": reading_id})


@router.put("/study-mode/cases/{study_id}/reference", status_code=204, tags=["study mode"])
def set_reference(study_id: int, body: CaseReferenceUpdate, room: Room, principal: Admin) -> None:
    with room.db.write() as session:
        reading_store.set_case_reference(
            session, study_id, expert_preference=body.expert_preference.value, n_findings=body.n_findings
        )
        audit.record_event(session, "score_case", user=principal.user, study_id=study_id)


_PRIVATE = {"Cache-Control": "private, max-age=300"}


def ingest_uploads(room: ReadingRoom, principal: Principal, files: list[UploadFile]) -> list[IngestOutcome]:
    """Spool each upload to a temporary file, ingest it, queue new images for the model."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="januscxr-upload-") as spool:
        for number, upload in enumerate(files):
            path = Path(spool) / f"{number}{Path(upload.filename or '').suffix.lower()[:8]}"
            with path.open("wb") as handle:
                while block := upload.file.read(1 << 20):
                    handle.write(block)
            outcome = ingest_file(room.db, room.data_dir, path, name=upload.filename or f"file {number + 1}")
            if outcome.image_id is not None:
                room.pool.submit(outcome.image_id)
            outcomes.append(outcome)
    with room.db.write() as session:
        detail = {"files": len(outcomes), "accepted": sum(o.image_id is not None for o in outcomes)}
        audit.record_event(session, "upload", user=principal.user, detail=detail)
    return outcomes
