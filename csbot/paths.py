"""Where the repository and the shared public data sets are, wherever the checkout lives."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The public train/dev sets: `$CSBOT_SHARED_DATA`, else `../shared/data` beside the checkout."""
    env = os.environ.get("CSBOT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"
