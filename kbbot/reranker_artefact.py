"""The shipped reranker as a small artefact: only the weights training changed, in fp16.

A trained cross-encoder directory is ~430 MB, almost all of it the frozen 250k-row word-embedding
matrix that the prepared e5 encoder already holds. `export_artefact` keeps the tensors that differ
from the encoder (the trained top layers, pooler, 1-logit head) in a few MB; `build_reranker` puts
them back on top of the converted e5 weights into a full `BertForSequenceClassification`
directory (loadable by sentence-transformers' `CrossEncoder` and bare transformers)
with a checksum manifest. `csbot models prepare` runs the build, so a fresh clone serves it.

Written by hand because no library splits a fine-tuned checkpoint against its base this way when
the base is itself a build product (peft would need the LoRA training path; full-layer
fine-tuning measured better per CPU minute here).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from csbot.models.manifest import Manifest, SourceRef, problems, read_manifest, sha256_file

#: the artefact in the package (committed): weights + meta
ARTEFACT_DIR = Path(__file__).parent / "data" / "reranker"
WEIGHTS = "delta.safetensors"
META = "reranker.json"
NAME = "kb-reranker"
BUILDER = "kbbot.reranker_artefact/1"
BASE_WEIGHTS = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ArtefactError(RuntimeError):
    """The artefact or the base encoder is missing or does not fit."""


def _base_key(key: str) -> str:
    """`bert.encoder.layer.0...` in the classifier is `encoder.layer.0...` in the e5 BertModel."""
    return key[len("bert."):] if key.startswith("bert.") else key


def export_artefact(model_dir: Path, base_dir: Path, out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the tensors of `model_dir` that differ from `base_dir` (fp16) plus `meta` to `out_dir`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    keep: dict[str, torch.Tensor] = {}
    with safe_open(str(model_dir / BASE_WEIGHTS), "pt") as trained, \
            safe_open(str(base_dir / BASE_WEIGHTS), "pt") as base:
        base_keys = set(base.keys())
        for key in trained.keys():  # noqa: SIM118 - safe_open is not a mapping
            t = trained.get_tensor(key)
            bk = _base_key(key)
            if bk in base_keys and torch.equal(t, base.get_tensor(bk)):
                continue
            keep[key] = t.to(torch.float16).contiguous()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(keep, str(out_dir / WEIGHTS))
    info = dict(meta)
    info.update(num_hidden_layers=int(config["num_hidden_layers"]), keys=len(keep),
                params=int(sum(t.numel() for t in keep.values())), sha256=sha256_file(out_dir / WEIGHTS))
    (out_dir / META).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


def read_meta(artefact_dir: Path = ARTEFACT_DIR) -> dict[str, Any]:
    path = artefact_dir / META
    if not path.is_file() or not (artefact_dir / WEIGHTS).is_file():
        raise ArtefactError(f"no reranker artefact in {artefact_dir} (expected {META} and {WEIGHTS})")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _sources(base_dir: Path, artefact_dir: Path) -> dict[str, Path]:
    return {"e5-small (prepared)": base_dir / BASE_WEIGHTS, "kbbot reranker artefact": artefact_dir / WEIGHTS}


def build_reranker(base_dir: Path, out_dir: Path, artefact_dir: Path = ARTEFACT_DIR, *,
                   force: bool = False) -> tuple[Path, bool]:
    """Combine the e5 weights and the artefact into `out_dir`; (dir, rebuilt). No-op while valid."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    meta = read_meta(artefact_dir)
    if not (base_dir / BASE_WEIGHTS).is_file():
        raise ArtefactError(f"base encoder {base_dir} is not prepared (run `csbot models prepare`)")
    sources = _sources(base_dir, artefact_dir)
    if not force and not problems(out_dir, read_manifest(out_dir), BUILDER, sources):
        return out_dir, False
    n_layers = int(meta["num_hidden_layers"])
    state: dict[str, torch.Tensor] = {}
    with safe_open(str(base_dir / BASE_WEIGHTS), "pt") as base:
        for key in base.keys():  # noqa: SIM118
            if key.startswith("encoder.layer.") and int(key.split(".")[2]) >= n_layers:
                continue
            if key.startswith("pooler."):
                continue
            state["bert." + key] = base.get_tensor(key)
    with safe_open(str(artefact_dir / WEIGHTS), "pt") as delta:
        for key in delta.keys():  # noqa: SIM118
            state[key] = delta.get_tensor(key).to(torch.float32)
    missing = {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight"} - set(state)
    if missing:
        raise ArtefactError(f"reranker artefact lacks {sorted(missing)}")
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    config.update(architectures=["BertForSequenceClassification"], num_hidden_layers=n_layers,
                  id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, model_type="bert")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=out_dir.parent))
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / BASE_WEIGHTS),
                  metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        for name in TOKENIZER_FILES:
            if (base_dir / name).is_file():
                shutil.copy2(base_dir / name, tmp / name)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        Manifest(name=NAME, kind="converted", builder=BUILDER,
                 sources=[SourceRef(package=k, path=str(v), sha256=sha256_file(v)) for k, v in sources.items()],
                 files=files, created_at=time.time(),
                 extra={k: v for k, v in meta.items() if isinstance(v, str | int | float)}).write(tmp)
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.replace(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir, True


def artefact_problems(out_dir: Path, base_dir: Path, artefact_dir: Path = ARTEFACT_DIR) -> list[str]:
    """Why `out_dir` is not a valid build of the current artefact (empty = valid)."""
    return problems(out_dir, read_manifest(out_dir), BUILDER, _sources(base_dir, artefact_dir))
