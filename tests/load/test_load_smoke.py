"""The load tool itself, run for a few seconds: real `csbot serve` with two workers, real locust customers.

The demo installation it needs is prepared once into var/load-smoke (a 10-item FAQ, like var/models
it is reused by later runs of the suite); the test then drives FAQ, task and chitchat conversations
and checks what a load figure is worth nothing without: no errors, every route really exercised.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_tool_runs_all_three_routes_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    argv = [sys.executable, str(REPO / "bench" / "load" / "run.py"), "--users", "6", "--duration", "6",
            "--mix", "faq=1,task=1,chat=1", "--think", "0.3,1", "--workers", "2", "--faq-limit", "10",
            "--data-dir", str(REPO / "var" / "load-smoke"), "--json", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    level = result["levels"][0]
    assert level["errors"] == 0, level["error_samples"]
    assert level["turns"] >= 10
    by_conv = level["routes_by_conversation"]
    # each kind of conversation reached the bot meant for it (a task may end with a thank-you to chat)
    assert by_conv["faq"].get("kb", 0) > 0
    assert by_conv["task"].get("task", 0) > 0
    assert by_conv["chat"].get("chat", 0) > 0
    for route in ("kb", "task", "chat"):
        figures = level["routes"][route]
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert level["server_cpu_s_per_turn"] > 0
    assert "cpu s/turn" in proc.stderr  # the table is printed for people, the JSON for tools
