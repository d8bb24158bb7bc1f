"""The audit log's filters (one query string for the API, the admin page and the CSV) and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, Field

from januscxr.server.deps import MAX_RECORD_ID, ReadingRoom
from januscxr.storage import audit
from januscxr.storage.tables import AuditEvent
from januscxr.storage.users import as_utc

CSV_COLUMNS = ("id", "at", "username", "action", "study_id", "report_id", "detail")
CSV_CHUNK = 1000  # events per query while streaming the CSV


def _blank_to_none(value: Any) -> Any:
    """An empty form field (the filter form sends every input) means no filter."""
    return None if isinstance(value, str) and not value.strip() else value


Text = Annotated[str | None, Query(max_length=64)]
StudyIdFilter = Annotated[
    Annotated[int, Field(ge=1, le=MAX_RECORD_ID)] | None, BeforeValidator(_blank_to_none), Query()
]
DateFilter = Annotated[date | None, BeforeValidator(_blank_to_none), Query()]


@dataclass(frozen=True)
class AuditFilters:
    """The filters as asked (dates are UTC days, ``date_to`` included)."""

    action: str | None = None
    user: str | None = None
    study_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def where(self) -> audit.EventFilter:
        start = datetime.combine(self.date_from, time.min, UTC) if self.date_from else None
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, UTC) if self.date_to else None
        return audit.EventFilter(self.action, self.user, None, self.study_id, start, end)

    def asked(self) -> dict[str, str | int]:
        """The filters set (for links and the audit detail; dates in ISO 8601)."""
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in vars(self).items() if v is not None}

    def query(self, **paging: int | None) -> str:
        """The query string of these filters and ``paging`` (``before_id``/``after_id``), with its ``?``."""
        values = self.asked() | {k: str(v) for k, v in paging.items() if v is not None}
        return f"?{urlencode(values)}" if values else ""


def audit_filters(
    action: Text = None,
    user: Text = None,
    study_id: StudyIdFilter = None,
    date_from: DateFilter = None,
    date_to: DateFilter = None,
) -> AuditFilters:
    """The filters of a request; 422 when ``date_from`` is after ``date_to``."""
    if date_from and date_to and date_from > date_to:
        message = f"date_to {date_to} is before date_from {date_from}; expected a range forward in time"
        raise RequestValidationError([{"loc": ("query", "date_to"), "msg": message}])
    return AuditFilters(_text(action), _text(user), study_id, date_from, date_to)


def _text(value: str | None) -> str | None:
    return value.strip() or None if value else None


def audit_csv(room: ReadingRoom, filters: AuditFilters) -> Iterator[str]:
    """The filtered events as CSV, latest first, queried a chunk at a time (memory stays flat on
    100,000 events). Details hold ids and statuses, never report text."""
    where, before_id = filters.where(), None
    yield _csv_line(CSV_COLUMNS)
    while True:
        with room.db.read() as session:
            events = audit.list_events(session, where, before_id=before_id, limit=CSV_CHUNK)
            lines = [_csv_line(_row(e)) for e in events]
        yield "".join(lines)
        if len(events) < CSV_CHUNK:
            return
        before_id = events[-1].id


def _row(event: AuditEvent) -> tuple[object, ...]:
    detail = json.dumps(event.detail, sort_keys=True) if event.detail else ""
    at = as_utc(event.at).isoformat()
    return (event.id, at, event.username or "", event.action, event.study_id or "", event.report_id or "", detail)


def _csv_line(cells: tuple[object, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_inert(c) for c in cells])
    return buffer.getvalue()


def _inert(cell: object) -> object:
    """A text a spreadsheet would run as a formula gets a leading apostrophe."""
    return f"'{cell}" if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
