"""Uploads over HTTP: a size limit enforced while the body streams, and per-file ingest of a batch.

Every file of a batch gets an outcome: a bad or unexpected file is refused on its own line and
the files after it are still stored. Uploads are spooled under ``<data_dir>/spool`` (0700), never
in the system temporary folder, and the spool is emptied at start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from januscxr.server.datafolder import PRIVATE_FILE, spool_folder
from januscxr.server.deps import Principal, ReadingRoom
from januscxr.server.ingest import IngestOutcome, ingest_file, safe_file_name
from januscxr.storage import audit

logger = logging.getLogger(__name__)

UPLOAD_PATHS = frozenset({"/api/studies", "/upload"})
_BLOCK = 1 << 20


def ingest_uploads(room: ReadingRoom, principal: Principal, files: list[UploadFile]) -> list[IngestOutcome]:
    """Spool each upload, ingest it, queue new images for the model; one outcome per file, in order."""
    outcomes = []
    with spool_folder(room.data_dir) as spool:
        for number, upload in enumerate(files):
            name = safe_file_name(upload.filename, fallback=f"file {number + 1}")
            outcome = _ingest_upload(room, principal, upload, spool / str(number), name)
            if outcome.image_id is not None and not outcome.duplicate:
                room.pool.submit(outcome.image_id)
            outcomes.append(outcome)
    detail = {
        "files": len(outcomes),
        "accepted": sum(o.image_id is not None and not o.duplicate for o in outcomes),
        "duplicates": sum(o.duplicate for o in outcomes),
        "refused": sum(o.error is not None and not o.duplicate for o in outcomes),
    }
    with room.db.write() as session:
        audit.record_event(session, "upload", user=principal.user, detail=detail)
    return outcomes


def _ingest_upload(room: ReadingRoom, principal: Principal, upload: UploadFile, path: Path, name: str) -> IngestOutcome:
    try:
        with path.open("xb") as handle:
            path.chmod(PRIVATE_FILE)
            while block := upload.file.read(_BLOCK):
                handle.write(block)
        return ingest_file(room.db, room.data_dir, path, name=name, origin="upload", user=principal.user)
    except Exception:  # one file must never stop the batch: the files after it are still stored
        logger.exception("upload %s not ingested: internal error", path.name)
        return IngestOutcome(name=name, error="internal error while storing this file; it was not stored")
    finally:
        path.unlink(missing_ok=True)


class UploadSizeLimit:
    """Pure ASGI middleware: a request body to an upload route over ``max_bytes`` gets 413.

    A declared Content-Length over the limit is refused before the body is read; otherwise the
    bytes are counted as they stream and the request is cut off at the limit, so that neither a
    lying nor a chunked client can make the server spool more than ``max_bytes``.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: frozenset[str] = UPLOAD_PATHS) -> None:
        self.app, self.max_bytes, self.paths = app, max_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        state = {"received": 0, "over": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["over"] = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:  # whatever the app made of the cut-off body, the answer is 413
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await self._refuse(send)
                return
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLargeError:
            if not state["started"]:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        limit_mb = self.max_bytes / (1 << 20)
        body = json.dumps(
            {"error": "UploadTooLarge", "message": f"upload is over the {limit_mb:g} MB limit (max_upload_mb)"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLargeError(Exception):
    """Raised inside the app's receive to stop reading a body over the limit."""
