"""The reading room: a FastAPI app with server-rendered pages, a REST API and a worker pool."""

from januscxr.server.app import create_app
from januscxr.server.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
