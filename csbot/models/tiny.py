"""A tiny random encoder with the real XLM-R tokenizer, for fast unit tests of code that embeds.

Its vectors carry no meaning, but shapes, normalisation, tokenisation and every loading path are
the real ones, so tests of indexing and search plumbing run in seconds without the 470 MB model.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from csbot.models.e5_convert import load_tokenizer
from csbot.models.manifest import Manifest, SourceRef, read_manifest, sha256_file
from csbot.models.packages import E5_TOKENIZER

BUILDER = "csbot.tiny/1"


def build_tiny_encoder(directory: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a random `BertModel` (hidden 32, 2 layers by default) plus the real tokenizer into `directory`.

    Deterministic for a given seed; returns `directory` (reused as is if already built there).
    """
    import torch
    from transformers import BertConfig, BertModel

    directory = Path(directory)
    existing = read_manifest(directory)
    if (
        existing is not None
        and existing.builder == BUILDER
        and existing.extra.get("seed") == seed
        and existing.extra.get("hidden") == hidden
        and existing.extra.get("layers") == layers
    ):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer_json = E5_TOKENIZER.locate()
    template, vocab_size = _tokenizer_template(str(tokenizer_json))
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 16),
        intermediate_size=hidden * 4,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=1,
    )
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False).eval()
    model.save_pretrained(directory, safe_serialization=True)
    for file in template.iterdir():
        shutil.copyfile(file, directory / file.name)
    files = {
        p.name: sha256_file(p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != "manifest.json"
    }
    Manifest(
        name="tiny-encoder",
        kind="random",
        builder=BUILDER,
        sources=[
            SourceRef(
                package=E5_TOKENIZER.pip_name,
                path=E5_TOKENIZER.relpath,
                sha256=sha256_file(tokenizer_json),
                licence=E5_TOKENIZER.licence,
            )
        ],
        files=files,
        extra={"seed": seed, "hidden": hidden, "layers": layers},
    ).write(directory)
    return directory


@lru_cache(maxsize=1)
def _tokenizer_template(tokenizer_json: str) -> tuple[Path, int]:
    """The saved tokenizer files, written once per process (parsing the 17 MB tokenizer.json is slow)."""
    tokenizer = load_tokenizer(Path(tokenizer_json))
    template = Path(tempfile.mkdtemp(prefix="csbot-tiny-tokenizer-"))
    tokenizer.save_pretrained(template)
    return template, len(tokenizer)
