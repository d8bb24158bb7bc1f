"""The REST API's request and response bodies (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from januscxr.eval.reads import Arm, Preference
from januscxr.records import probability_texts

MAX_REPORT_CHARS = 20_000


class LoginCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class SessionPublic(BaseModel):
    username: str
    role: str
    csrf_token: str


class StudyHeaderPublic(BaseModel):
    """Who and what the study is, as the worklist, the study page and the printed report show it."""

    patient_name: str | None = Field(description='DICOM Person Name for reading: "DOE, JANE" for DOE^JANE.')
    patient_id: str | None
    patient_sex: str | None
    patient_age_years: float | None
    study_date: str | None = Field(description="YYYY-MM-DD")
    accession_number: str | None
    study_description: str | None = Field(description="DICOM Study Description; a PNG or JPEG's file name.")


class WorklistItemPublic(StudyHeaderPublic):
    study_id: int
    label: str
    received_at: datetime
    waiting_min: float
    study_time: str | None = Field(default=None, description="HH:MM:SS, from DICOM Study Time.")
    source: str | None = Field(
        default=None, description='"upload", "watch", "dicom:<calling AE title>" or "dicomweb:<server name>".'
    )
    ready_s: float | None = Field(
        default=None,
        description=(
            "Seconds from receipt of the study's newest instance to the AI outcome (draft, failure or"
            " refusal); None while pending or hidden."
        ),
    )
    ai_status: str = Field(description="pending, done, failed (the image could not be read), refused, or hidden")
    priority: Literal["critical", "failed", "refused", "flagged", "routine", "pending", "hidden"]
    ai_error: str | None = Field(description="Why the AI has no read of a failed or refused study, in words.")
    top_finding: str | None
    flagged_findings: list[str]
    report_status: str
    n_images: int


class AiReadStatusPublic(BaseModel):
    """Where the AI read of an uploaded study stands (the upload page polls it)."""

    study_id: int
    ai_status: str
    ai_error: str | None


class DiscordancePublic(BaseModel):
    """Where the report and the AI's flags disagree (:func:`januscxr.consistency.find_discordances`)."""

    finding: str
    kind: Literal["report_denies", "report_omits", "report_asserts"]
    probability: float
    threshold: float
    critical: bool
    sentence: str | None


class FindingPublic(BaseModel):
    finding: str
    probability: float
    threshold: float
    flagged: bool
    uncertain: bool
    critical: bool
    laterality: str | None
    urgent_threshold: float | None = None  # None: the specific point is unreliable, never urgent
    urgent: bool = False
    heatmap_url: str | None = None
    discordant: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def probability_text(self) -> str:
        """The probability with the digits that show whether it reaches the threshold."""
        return probability_texts(self.probability, self.threshold)[0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def threshold_text(self) -> str:
        return probability_texts(self.probability, self.threshold)[1]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def urgency_text(self) -> str:
        """Where the finding stands against its specific (urgent) operating point."""
        if self.urgent_threshold is None:
            return "never raises urgency (its specific threshold was chosen on too few positive cases)"
        p, urgent = probability_texts(self.probability, self.urgent_threshold)
        return f"urgent at p >= {urgent}; p = {p}"


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
    discordances: list[DiscordancePublic] = Field(
        default=[], description="The text against the AI result shown first; empty without one (the standard arm)."
    )
    drafted_by: str | None = Field(default=None, description="The model, version and reporter of an AI draft.")
    attribution: str | None = Field(
        default=None, description='"AI-assisted draft, reviewed and signed by X" for a signed AI draft.'
    )


class EarlierStudyPublic(BaseModel):
    """A study of the same patient received before the one open, for comparison."""

    study_id: int
    label: str
    study_date: str | None = Field(description="YYYY-MM-DD")
    study_description: str | None
    received_at: datetime
    report_status: str
    impression: str | None = Field(
        description="The signed (or amended) clinical report's impression; None if not final."
    )


class StudyPublic(BaseModel):
    id: int
    label: str
    header: StudyHeaderPublic
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
    earlier_studies: list[EarlierStudyPublic] = []


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
