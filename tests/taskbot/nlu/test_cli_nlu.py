"""`csbot nlu eval|train` through the typer app, as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from csbot.config import Settings, get_settings
from taskbot.cli_nlu import nlu_app
from taskbot.nlu.data import write_jsonl
from taskbot.nlu.types import IntentExample

from .conftest import HELD_OUT

EVAL_KEYS = {"n", "accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1", "train_s", "p50_ms"}


@pytest.fixture
def files(tmp_path: Path, shop_examples: list[IntentExample]) -> tuple[Path, Path]:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    write_jsonl(train, shop_examples)
    rows = [IntentExample(text=t, intent=i) for t, i in HELD_OUT]
    rows += [IntentExample(text="讲个笑话给我听", intent="oos"), IntentExample(text="what's the weather", intent="oos")]
    write_jsonl(test, rows)
    return train, test


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CSBOT_MODELS__DIR", str(settings.data_dir / "models"))
    monkeypatch.setenv("CSBOT_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("CSBOT_REDIS_PREFIX", settings.redis_prefix)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_eval_json_prints_one_object_with_the_metrics(files: tuple[Path, Path], tiny_encoder_dir: Path) -> None:
    train, test = files
    result = CliRunner().invoke(
        nlu_app, ["eval", "--train", str(train), "--test", str(test), "--encoder", str(tiny_encoder_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert EVAL_KEYS <= set(report)
    assert report["n"] == len(HELD_OUT) + 2
    assert report["in_scope_accuracy"] >= 0.75
    assert report["train_s"] > 0 and report["p50_ms"] > 0


def test_eval_rejects_a_malformed_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi"}\n', encoding="utf-8")
    result = CliRunner().invoke(nlu_app, ["eval", "--train", str(bad), "--test", str(files[1]), "--features", "ngrams"])
    assert result.exit_code != 0
    assert "bad.jsonl:1" in str(result.exception)


def test_train_out_writes_a_loadable_artefact(files: tuple[Path, Path], tmp_path: Path, cli_settings: Settings) -> None:
    from taskbot.nlu.artefact import load_intent_classifier

    out = tmp_path / "artefact"
    result = CliRunner().invoke(
        nlu_app, ["train", "--data", str(files[0]), "--features", "ngrams", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(out)
    assert load_intent_classifier(out).predict(["我要退货"])[0].intent == "return_refund"


async def test_train_registers_and_serves_the_tenant_model(files: tuple[Path, Path], cli_settings: Settings) -> None:
    from csbot.context import AppContext
    from csbot.models.registry import ModelRegistry
    from csbot.storage.db import Database
    from taskbot.nlu.registry import load_serving

    result = CliRunner().invoke(
        nlu_app,
        ["train", "--data", str(files[0]), "--features", "ngrams", "--tenant", "acme", "--promote", "--json"],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["status"] == "serving"
    db = Database(cli_settings.database_url)
    row = ModelRegistry(cli_settings, db).serving("acme", "nlu")
    db.dispose()
    assert row is not None and row.id == info["version_id"]
    assert "intent_f1" in row.metrics

    ctx = AppContext.create(cli_settings)
    try:
        clf = load_serving(ctx, "acme")
        assert clf is not None
        assert clf.predict(["帮我开发票"])[0].intent == "invoice"
        assert load_serving(ctx, "nobody-else") is None
    finally:
        await ctx.close()


def test_eval_with_embedding_cache_reuses_vectors(files: tuple[Path, Path], tiny_encoder_dir: Path, tmp_path: Path) -> None:
    train, test = files
    cache = tmp_path / "cache"
    args = ["eval", "--train", str(train), "--test", str(test), "--encoder", str(tiny_encoder_dir),
            "--embedding-cache", str(cache), "--latency-samples", "3", "--json"]
    first = CliRunner().invoke(nlu_app, args)
    assert first.exit_code == 0, first.output
    files_after_first = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(files_after_first) == 1
    second = CliRunner().invoke(nlu_app, args)
    assert second.exit_code == 0, second.output
    keys = ("accuracy", "in_scope_accuracy", "oos_recall", "macro_f1")
    assert [json.loads(second.stdout)[k] for k in keys] == [json.loads(first.stdout)[k] for k in keys]
    # every text was cached by the first run: the second wrote nothing
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == files_after_first
