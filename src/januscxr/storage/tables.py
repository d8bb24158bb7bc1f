"""The reading room's tables: studies, images, AI results, reports, users, audit, reading sessions.

AI results, report versions and audit events are append-only: the ORM refuses to update or
delete them (:func:`_refuse_change`). A report's signed text never changes; corrections are
addenda. ``Report.revision`` is the optimistic lock every save and signature checks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from januscxr.errors import ReportStateError, StorageError
from januscxr.storage.roles import Role

__all__ = ["Role"]  # defined in storage.roles; kept importable from here


def utcnow() -> datetime:
    return datetime.now(UTC)


class AiStatus(StrEnum):
    """Where a study's AI read stands."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # the image could not be read (truncated, undecodable, too slow, a model error)
    REFUSED = "refused"  # read, but not what the AI reads (not a chest radiograph, a lateral, too small)


class JobState(StrEnum):
    """Where a job of the work queue stands: queued -> running (leased) -> done, or failed after its attempts."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ReportStatus(StrEnum):
    """draft -> (preliminary, a resident's signature) -> signed -> amended (addenda)."""

    DRAFT = "draft"
    PRELIMINARY = "preliminary"
    SIGNED = "signed"
    AMENDED = "amended"

    @property
    def is_final(self) -> bool:
        return self in {ReportStatus.SIGNED, ReportStatus.AMENDED}


class Priority(IntEnum):
    """Worklist order: critical findings first; studies still with the model last."""

    CRITICAL = 0
    FLAGGED = 1
    ROUTINE = 2
    PENDING = 3


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """A login: the cookie carries the token; only its sha256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_worklist", "report_status", "priority", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    accession_number: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str | None] = mapped_column(String(128))
    patient_sex: Mapped[str | None] = mapped_column(String(1))
    patient_age_years: Mapped[float | None] = mapped_column(Float)
    study_date: Mapped[str | None] = mapped_column(String(8))  # DICOM DA, YYYYMMDD
    study_time: Mapped[str | None] = mapped_column(String(16))  # DICOM TM, HHMMSS.FFFFFF
    study_description: Mapped[str | None] = mapped_column(String(64))  # DICOM LO; an upload's file name
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_received_at: Mapped[datetime | None]  # its newest instance arrived (storage.studies.add_image)
    source: Mapped[str | None] = mapped_column(String(80))  # upload, watch, dicom:<calling AE>
    # the first AI outcome (result, failure, refusal) stored after last_received_at: the draft was ready
    ai_ready_at: Mapped[datetime | None]
    ai_status: Mapped[str] = mapped_column(String(16), default=AiStatus.PENDING.value)
    priority: Mapped[int] = mapped_column(Integer, default=Priority.PENDING.value)
    top_finding: Mapped[str | None] = mapped_column(String(64))
    flagged_findings: Mapped[str] = mapped_column(Text, default="")  # "|Pneumothorax|Edema|"
    report_status: Mapped[str] = mapped_column(String(16), default=ReportStatus.DRAFT.value)
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    expert_preference: Mapped[str | None] = mapped_column(String(16))  # study mode, expert panel
    reference_n_findings: Mapped[int | None] = mapped_column(Integer)  # study mode, expert panel

    images: Mapped[list[Image]] = relationship(back_populates="study", order_by="Image.id")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("content_sha256", name="uq_images_content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    file_path: Mapped[str] = mapped_column(Text)  # relative to the data folder
    original_name: Mapped[str | None] = mapped_column(String(255))  # the file name it arrived under
    content_sha256: Mapped[str | None] = mapped_column(String(64))  # de-duplicates re-sent files
    display_path: Mapped[str | None] = mapped_column(Text)  # 8-bit PNG for the viewer
    view_position: Mapped[str | None] = mapped_column(String(16))
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="images")


class Job(Base):
    """One image to read, in the durable work queue (storage.jobs): claimed with a lease, so that
    a job whose worker died is taken again once ``lease_expires_at`` has passed."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "state", "lease_expires_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_expires_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]  # not claimed earlier: its study is still arriving (study_quiet_s)
    leased_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DicomwebServer(Base):
    """A DICOMweb server polled for studies (storage.dicomweb): its QIDO cursor and how polls went."""

    __tablename__ = "dicomweb_servers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor_study_date: Mapped[str | None] = mapped_column(String(8))  # newest StudyDate seen, YYYYMMDD
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed polls
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]


class DicomwebStudy(Base):
    """A study found on a DICOMweb server, claimed with a lease before it is retrieved (JobState),
    so that no study is retrieved twice by one poller after a restart, or by two at once."""

    __tablename__ = "dicomweb_studies"
    __table_args__ = (
        UniqueConstraint("server_name", "study_instance_uid", name="uq_dicomweb_studies_server_uid"),
        Index("ix_dicomweb_studies_claim", "server_name", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    server_name: Mapped[str] = mapped_column(ForeignKey("dicomweb_servers.name", ondelete="CASCADE"))
    study_instance_uid: Mapped[str] = mapped_column(String(64))
    study_date: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(128))
    next_try_at: Mapped[datetime | None]  # a failed retrieval is retried after a backoff
    instances: Mapped[int] = mapped_column(Integer, default=0)  # instances handed to ingest
    # QIDO-RS's count when last queued; a later poll that finds more queues the study again
    number_of_study_related_instances: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """One object to send to one destination (storage.outbox): claimed with a lease like a job,
    retried with backoff until delivered. ``object_uid`` (SOP Instance UID, HL7 message control
    id, FHIR bundle id) is the idempotency key: a resend carries the same identity."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("destination", "object_uid", name="uq_outbox_destination_object"),
        Index("ix_outbox_claim", "destination", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(String(200))  # dicom:AE@host:port, stow:<url>, mllp:host:port, fhir:<url>
    kind: Mapped[str] = mapped_column(String(16))  # ai_sr, heatmap, report_sr, draft_sr, oru, fhir
    object_uid: Mapped[str] = mapped_column(String(64))
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="SET NULL"))
    report_id: Mapped[int | None] = mapped_column(Integer)
    payload_path: Mapped[str | None] = mapped_column(Text)  # a DICOM file, relative to the data folder
    payload_text: Mapped[str | None] = mapped_column(Text)  # an HL7 message or a FHIR bundle
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AiResult(Base):
    """One model's read of one image. Immutable: a new model run adds a row."""

    __tablename__ = "ai_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    reporter: Mapped[str] = mapped_column(String(128))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # records.finding_record rows
    draft_findings: Mapped[str] = mapped_column(Text)
    draft_impression: Mapped[str] = mapped_column(Text)
    # consistency.find_discordances of the draft against the findings, as records.discordance_record rows
    discordances: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    heatmaps: Mapped[list[Heatmap]] = relationship(order_by="Heatmap.id")


class Heatmap(Base):
    """A transparent PNG overlay of one flagged finding, at the display image's size."""

    __tablename__ = "heatmaps"
    __table_args__ = (UniqueConstraint("ai_result_id", "finding"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ai_result_id: Mapped[int] = mapped_column(ForeignKey("ai_results.id", ondelete="CASCADE"), index=True)
    finding: Mapped[str] = mapped_column(String(64))
    png: Mapped[bytes] = mapped_column(LargeBinary)


class Report(Base):
    """A study's report: the current text, its status and the revision the next save must match.

    ``reader_key`` is 0 for the study's clinical report; in study mode each reader writes their
    own report of the case, keyed by their user id.
    """

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("study_id", "reader_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    reader_key: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.DRAFT.value)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    findings: Mapped[str] = mapped_column(Text, default="")
    impression: Mapped[str] = mapped_column(Text, default="")
    ai_result_id: Mapped[int | None] = mapped_column(ForeignKey("ai_results.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime | None]
    cosigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cosigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    addenda: Mapped[list[Addendum]] = relationship(order_by="Addendum.id")


class ReportVersion(Base):
    """Every saved text of a report, in order. Append-only."""

    __tablename__ = "report_versions"
    __table_args__ = (UniqueConstraint("report_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # ai_draft | draft | preliminary | signed | conflict
    findings: Mapped[str] = mapped_column(Text)
    impression: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Addendum(Base):
    """Text appended to a signed report. Append-only."""

    __tablename__ = "addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what when. Details hold ids and statuses, never report text. Append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    study_id: Mapped[int | None] = mapped_column(Integer, index=True)
    report_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LoginCounter(Base):
    """Failed logins of one account (``user:<name>``) or one address (``ip:<addr>``) in the current
    window. Counted with a row lock (SQLite: the IMMEDIATE write lock), so concurrent attempts queue."""

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # pruned by age
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ReadingSession(Base):
    """One reader's time on one study: active milliseconds, idle gaps excluded."""

    __tablename__ = "reading_sessions"
    # A reader has one clinical and one study-mode session per study: switching modes never reuses one.
    __table_args__ = (UniqueConstraint("study_id", "user_id", "study_mode", name="uq_reading_sessions_mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    arm: Mapped[str | None] = mapped_column(String(16))
    study_mode: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    active_ms: Mapped[int] = mapped_column(Integer, default=0)
    signed_at: Mapped[datetime | None]
    quality_score: Mapped[int | None] = mapped_column(Integer)  # study mode, expert panel
    agreement_score: Mapped[float | None] = mapped_column(Float)  # study mode, expert panel

    user: Mapped[User] = relationship(lazy="joined")


def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise StorageError(f"{type(target).__name__} {target.id} is append-only; expected a new row instead")


for _table in (AiResult, Heatmap, ReportVersion, Addendum, AuditEvent):
    event.listen(_table, "before_update", _refuse_change)
    event.listen(_table, "before_delete", _refuse_change)


@event.listens_for(Report, "before_update")
def _keep_signed_text(mapper: Any, connection: Any, target: Report) -> None:
    """Signed text never changes: refuse an ORM update of the text of a final report."""
    state = inspect(target)
    status = state.attrs.status.history
    was_final = ReportStatus(status.deleted[0] if status.deleted else target.status).is_final
    text_changed = state.attrs.findings.history.has_changes() or state.attrs.impression.history.has_changes()
    if was_final and text_changed:
        raise ReportStateError(f"report {target.id} is signed; its text cannot change (add an addendum)")
