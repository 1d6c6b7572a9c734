"""Imports every table module so that `Base.metadata` is complete (for Alembic and tests)."""

from csbot.storage import (
    channels,  # noqa: F401
    chat,  # noqa: F401
    kb,  # noqa: F401
    ops,  # noqa: F401
    registry,  # noqa: F401
)
from csbot.storage.models import Base  # noqa: F401
