"""Studies written straight into a reading room's database (no upload, no worker): fast and
identical from one room to the next, so two rooms can be compared response by response."""

from __future__ import annotations

from sqlalchemy import delete, update

from januscxr.labels import Finding
from januscxr.server.deps import ReadingRoom
from januscxr.storage import studies
from januscxr.storage.tables import AiResult, AiStatus, Heatmap, Priority, Report, ReportVersion, Study
from tests.server.conftest import png_bytes
from tests.storage.conftest import DRAFT, prediction


def seed_studies(room: ReadingRoom, n: int) -> list[int]:
    """``n`` one-image studies read by a fake model, every other one a critical pneumothorax
    (their reports are made when first opened, from the AI draft)."""
    png = png_bytes(0, size=32)
    (room.data_dir / "display").mkdir(parents=True, exist_ok=True)
    ids = []
    with room.db.write() as session:
        for i in range(n):
            attributes = studies.StudyAttributes(study_instance_uid=f"1.2.826.0.1.3680043.99.{i + 1}")
            study, _ = studies.add_study(session, attributes)
            image = studies.add_image(
                session, study, sop_instance_uid=f"{attributes.study_instance_uid}.1", file_path="x"
            )
            (room.data_dir / "display" / f"{image.id}.png").write_bytes(png)
            studies.set_display(session, image, display_path=f"display/{image.id}.png", rows=32, columns=32)
            p = 0.9 if i % 2 == 0 else 0.1
            studies.record_ai_result(
                session,
                image,
                prediction({Finding.PNEUMOTHORAX: p, Finding.EDEMA: 1.0 - p}),
                DRAFT,
                heatmaps={Finding.PNEUMOTHORAX: png},
            )
            ids.append(study.id)
    return ids


def remove_ai_results(room: ReadingRoom) -> None:
    """The same database as if no model had run: no AI results, heatmaps or AI drafts, studies pending."""
    with room.db.write() as session:
        session.execute(delete(Heatmap))
        session.execute(delete(ReportVersion))
        session.execute(delete(Report))
        session.execute(delete(AiResult))
        session.execute(
            update(Study).values(
                ai_status=AiStatus.PENDING.value, priority=Priority.PENDING.value, top_finding=None, flagged_findings=""
            )
        )
