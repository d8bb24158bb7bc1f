"""januscxr: chest X-ray interpretation for clinical practice (decision support).

>>> import januscxr
>>> result = januscxr.read("chest.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from januscxr.pipeline import read

__all__ = ["__version__", "read"]


def __getattr__(name: str) -> Any:
    # Importing the pipeline pulls in torch: only when read() is asked for.
    if name == "read":
        from januscxr.pipeline import read

        return read
    raise AttributeError(f"module 'januscxr' has no attribute {name!r}")
