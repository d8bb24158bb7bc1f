"""The reading room: a FastAPI app with server-rendered pages, a REST API and a worker pool.

The app and its settings load on first use, so that ``januscxr --help`` does not import the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from januscxr.server.app import create_app
    from januscxr.server.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from januscxr.server.app import create_app

        return create_app
    if name in {"Settings", "load_settings"}:
        from januscxr.server import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'januscxr.server' has no attribute {name!r}")
