"""The REST API's request and response bodies (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from januscxr.eval.reads import Arm, Preference

MAX_REPORT_CHARS = 20_000


class LoginCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class SessionPublic(BaseModel):
    username: str
    role: str
    csrf_token: str


class WorklistItemPublic(BaseModel):
    study_id: int
    label: str
    received_at: datetime
    waiting_min: float
    ai_status: str
    priority: Literal["critical", "flagged", "routine", "pending", "hidden"]
    top_finding: str | None
    flagged_findings: list[str]
    report_status: str
    n_images: int


class FindingPublic(BaseModel):
    finding: str
    probability: float
    threshold: float
    flagged: bool
    uncertain: bool
    critical: bool
    laterality: str | None
    heatmap_url: str | None = None
    discordant: bool = False


class AiResultPublic(BaseModel):
    id: int
    image_id: int
    model_id: str
    model_version: str
    reporter: str
    created_at: datetime
    findings: list[FindingPublic]


class ImagePublic(BaseModel):
    id: int
    view_position: str | None
    rows: int | None
    columns: int | None
    display_url: str | None
    error: str | None


class AddendumPublic(BaseModel):
    id: int
    author: str
    text: str
    created_at: datetime


class ReportPublic(BaseModel):
    id: int
    study_id: int
    status: str
    revision: int
    findings: str
    impression: str
    signed_by: str | None
    signed_at: datetime | None
    cosigned_by: str | None
    cosigned_at: datetime | None
    author: str | None = Field(description="Who wrote the signed text (the co-signer when they edited it).")
    signature: str | None = Field(
        description='Who wrote and signed it, e.g. "Preliminary by X; edited and signed by Y".'
    )
    addenda: list[AddendumPublic]


class StudyPublic(BaseModel):
    id: int
    label: str
    study_instance_uid: str
    received_at: datetime
    ai_status: str
    report_status: str
    arm: str | None
    ai_visible: bool
    images: list[ImagePublic]
    ai_results: list[AiResultPublic]
    report: ReportPublic
    active_s: float


class ReportUpdate(BaseModel):
    """A save or a signature of the text as edited on ``revision``."""

    revision: int = Field(ge=1, le=2**63 - 1)
    findings: str = Field(max_length=MAX_REPORT_CHARS)
    impression: str = Field(max_length=MAX_REPORT_CHARS)


class AddendumCreate(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_REPORT_CHARS)


class ActivityCreate(BaseModel):
    """Active milliseconds since the page's last report (the page sends one every few seconds)."""

    active_ms: int = Field(ge=0, le=600_000)


class VersionPublic(BaseModel):
    number: int
    kind: str
    author: str | None
    created_at: datetime
    findings: str
    impression: str


class IngestPublic(BaseModel):
    name: str
    study_id: int | None
    image_id: int | None
    duplicate: bool
    error: str | None


class ReadScoresUpdate(BaseModel):
    quality_score: int = Field(ge=1, le=5)
    agreement_score: float = Field(allow_inf_nan=False)


class CaseReferenceUpdate(BaseModel):
    expert_preference: Preference
    n_findings: int = Field(ge=0, le=1000)


class StudyReadPublic(BaseModel):
    reading_id: int
    case_id: str
    reader_id: str
    arm: Arm
    reading_time_s: float
    quality_score: int | None
    agreement_score: float | None
    expert_preference: str | None
    n_findings: int | None


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    username: str | None
    action: str
    study_id: int | None
    report_id: int | None
    detail: dict[str, object]
