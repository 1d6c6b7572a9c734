"""Imports every table module so that `Base.metadata` is complete (for Alembic and tests)."""

from csbot.storage.models import Base  # noqa: F401
from csbot.storage import kb  # noqa: F401
from csbot.storage import registry  # noqa: F401
