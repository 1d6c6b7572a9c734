"""`csbot kb` commands through typer's runner, on a real Milvus Lite file, SQLite and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from csbot.config import get_settings
from kbbot.cli import app
from tests.conftest import MODELS_DIR, REDIS_URL
from tests.kbbot.conftest import DATA, FAQ_SMALL


@pytest.fixture
def cli_env(tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSBOT_MILVUS_URI", str(tmp_path / "milvus.db"))
    monkeypatch.setenv("CSBOT_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("CSBOT_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("CSBOT_MODELS__DIR", str(MODELS_DIR))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_import_bad_file_fails_with_every_problem(cli_env: Path) -> None:
    res = CliRunner().invoke(app, ["import", str(DATA / "bad.csv"), "--tenant", "t"])
    assert res.exit_code == 1
    out = res.output
    for line in ("line 3", "line 4", "line 5", "line 6"):
        assert line in out
    assert "nothing was imported" in out
    res = CliRunner().invoke(app, ["export", str(cli_env / "out.jsonl"), "--tenant", "t"])
    assert res.exit_code == 0 and (cli_env / "out.jsonl").read_text() == ""


def test_cli_graph_import_rejects_bad_rows(cli_env: Path, tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("subject,relation,object\nA,价格,\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["graph", "import", str(f), "--tenant", "t"])
    assert res.exit_code == 1 and "empty object" in res.output


@pytest.mark.slow
def test_cli_import_publish_eval_rollback(cli_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["import", str(FAQ_SMALL), "--tenant", "t", "--publish", "--json"])
    assert res.exit_code == 0, res.output
    queries = tmp_path / "q.jsonl"
    rows = [{"query": "邮费多少钱呀", "expected": "ship-fee"}, {"query": "发票怎么开", "expected": "怎么开发票？"},
            {"query": "钱什么时候退给我", "expected": "refund-time"}, {"query": "明天会下雨吗", "expected": None}]
    queries.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    res = runner.invoke(app, ["eval", "--tenant", "t", "--queries", str(queries), "--json", "--compare"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert out["n"] == 4 and out["version"] == 1
    assert out["mode"] == "fusion"  # the shipped calibration gives the reranker weight 0: it is not served
    for key in ("top1", "mrr5", "recall5", "answered_precision", "reject_recall", "p50_ms", "p99_ms"):
        assert key in out
    assert out["top1"] >= 2 / 3 and out["recall5"] == 1.0
    assert set(out["compare"]) == {"bm25", "dense", "fusion", "fusion+rerank"}
    res = runner.invoke(app, ["publish", "--tenant", "t", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout[res.stdout.index("{"):])["version"] == 2
    res = runner.invoke(app, ["rollback", "--tenant", "t", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout[res.stdout.index("{"):])["version"] == 1
