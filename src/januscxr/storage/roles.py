"""Reading-room roles, apart from the tables so that the CLI can name them without SQLAlchemy."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: residents' reports need a radiologist's co-signature."""

    RADIOLOGIST = "radiologist"
    RESIDENT = "resident"
    ADMIN = "admin"
