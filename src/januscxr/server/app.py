"""The app factory: ``create_app(settings)`` wires storage, the worker pool, the background services
(:mod:`januscxr.server.services`) and routes; ``web_process_app`` is one of ``serve --processes N``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import januscxr
from januscxr.errors import AuthenticationError, JanusCxrError, LoginRateLimitedError, http_status_for
from januscxr.models.base import Classifier, Reporter
from januscxr.server import api, pages
from januscxr.server.datafolder import prepare_data_dir
from januscxr.server.deps import ReadingRoom, authenticated
from januscxr.server.inference import InferencePool
from januscxr.server.services import QueueOnlyPool, background_services, web_process_settings
from januscxr.server.sessions import record_refusal
from januscxr.server.settings import Settings
from januscxr.server.uploads import UploadSizeLimit
from januscxr.storage.database import open_database

logger = logging.getLogger(__name__)

PACKAGE = Path(str(files("januscxr.server")))
AUDITED_REFUSALS = frozenset({403, 429})  # refused requests the audit log records (401s are every visit)


def create_app(
    settings: Settings | None = None,
    *,
    classifier: Classifier | str | None = None,
    reporter: Reporter | str | None = None,
    background: bool = True,
) -> FastAPI:
    """The reading room as an ASGI app. ``classifier``/``reporter`` override the settings' names;
    ``background=False`` makes a web process that runs no workers, watcher or listener (its
    uploads are queued for the process that runs :func:`~januscxr.server.services.background_services`).

    Examples
    --------
    >>> app = create_app(Settings(data_dir="/tmp/rr", classifier="fake-classifier"))  # doctest: +SKIP
    """
    settings = settings or Settings()
    prepare_data_dir(settings.data_dir)  # 0700 folders, 0600 files: they hold patient images
    db = open_database(settings.resolved_database_url)
    pool_class = InferencePool if background else QueueOnlyPool
    pool = pool_class.from_settings(db, settings, classifier=classifier, reporter=reporter)
    room = ReadingRoom(
        settings=settings,
        db=db,
        pool=pool,
        templates=Jinja2Templates(directory=PACKAGE / "templates"),
    )
    app = FastAPI(
        title="januscxr reading room",
        version=januscxr.__version__,
        description="Triage, review and sign-off of chest X-rays with AI decision support.",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.room = room
    app.state.background = background
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")
    for router in (api.public, api.router, pages.public, pages.router):
        app.include_router(router)
    app.add_api_route("/api/openapi.json", _openapi, include_in_schema=False, dependencies=[Depends(authenticated)])
    app.add_exception_handler(JanusCxrError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_mb << 20)
    app.add_middleware(SecurityHeaders)
    return app


def web_process_app() -> FastAPI:
    """One of the web processes of ``januscxr serve --processes N`` (uvicorn's app factory)."""
    return create_app(web_process_settings(), background=False)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    room: ReadingRoom = app.state.room
    # Torch, SQLAlchemy and the rest make a large, long-lived heap; without freezing it, every
    # full collection walks it and a 10,000-row worklist triggers a few of them (+300 ms each).
    gc.collect()
    gc.freeze()
    try:
        with background_services(room) if app.state.background else nullcontext():
            yield
    finally:
        room.db.dispose()


def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def _domain_error(request: Request, error: JanusCxrError) -> Response:
    status = http_status_for(error)
    if status in AUDITED_REFUSALS:
        await run_in_threadpool(record_refusal, request.app.state.room, request, status, error)
    if isinstance(error, AuthenticationError) and not isinstance(error, LoginRateLimitedError) and _wants_html(request):
        if request.url.path == "/login":
            return RedirectResponse("/login?error=1", status_code=303)
        return pages.login_redirect(request.url.path)
    if _wants_html(request):
        room: ReadingRoom = request.app.state.room
        principal = getattr(request.state, "principal", None)
        response = pages.render(room, request, "error.html", principal, status=status, message=str(error))
        response.status_code = status
        return response
    return JSONResponse({"error": type(error).__name__, "message": str(error)}, status_code=status)


async def _validation_error(request: Request, error: RequestValidationError) -> Response:
    # Never echo the submitted values: they may hold report text.
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in error.errors()]
    first = problems[0] if problems else {"loc": [], "msg": ""}
    where = " ".join(str(part) for part in first["loc"]) or "request"
    message = f"invalid {where}: {first['msg']}".replace("\n", " ")
    if _wants_html(request):
        room: ReadingRoom = request.app.state.room
        principal = getattr(request.state, "principal", None)
        response = pages.render(room, request, "error.html", principal, status=422, message=message)
        response.status_code = 422
        return response
    return JSONResponse({"error": "ValidationError", "message": message, "detail": problems}, status_code=422)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'",
    ),
]


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every response (no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
