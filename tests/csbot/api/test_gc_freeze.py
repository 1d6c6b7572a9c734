"""The served process freezes its start-up objects out of the garbage collector (a full collection
walking the models stopped a worker for ~180 ms under load: docs/performance.md); an app built in a
test process does not, and `CSBOT_SERVER__GC_FREEZE=false` turns it off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL

PROBE = """
import gc, json
from fastapi.testclient import TestClient
from csbot.api.factory import app_from_env
with TestClient(app_from_env()) as client:
    ok = client.get("/healthz").status_code
    print(json.dumps({"frozen": gc.get_freeze_count(), "health": ok}))
"""


def _served_freeze_count(tmp_path: Path, redis_prefix: str, **env: str) -> dict[str, int]:
    full = {**os.environ, "CSBOT_DATA_DIR": str(tmp_path), "CSBOT_REDIS_URL": REDIS_URL,
            "CSBOT_REDIS_PREFIX": redis_prefix, "CSBOT_MILVUS_URI": str(tmp_path / "milvus.db"),
            # no bots: what is measured is the app's own start-up, not model loading
            "CSBOT_PIPELINE__BOTS": "[]", "CSBOT_LOG_LEVEL": "WARNING", **env}
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("value", "frozen"), [(None, True), ("false", False)])
def test_served_app_freezes_start_up_objects(tmp_path: Path, redis_prefix: str, value: str | None,
                                             frozen: bool) -> None:
    env = {"CSBOT_SERVER__GC_FREEZE": value} if value is not None else {}
    got = _served_freeze_count(tmp_path, redis_prefix, **env)
    assert got["health"] == 200
    assert (got["frozen"] > 10_000) is frozen
