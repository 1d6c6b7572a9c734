"""The shared sentence encoder (multilingual-e5-small by default): texts -> unit vectors.

Loading goes through FlagEmbedding's `FlagModel` (tokenizer, model, mean pooling). Encoding runs our
own batch loop over the FlagModel's tokenizer, model and `pooling`, because
`FlagModel.encode_single_device` (FlagEmbedding 1.4.2) runs the first batch twice to probe the batch
size (doubling the latency of the one-query calls that dominate chat traffic) and swallows every
`RuntimeError` while shrinking the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csbot.models.manifest import read_manifest

if TYPE_CHECKING:
    from FlagEmbedding import FlagModel

log = logging.getLogger(__name__)

QUERY_PREFIX = "query: "
#: one-text encodes remembered per Embedder (a few MB at 384 floats each)
RECENT_ENCODES = 4096
PASSAGE_PREFIX = "passage: "


def dir_version(model_dir: Path) -> str:
    """Version of a model directory: its manifest's version, else a hash of its files' names, sizes, mtimes."""
    manifest = read_manifest(model_dir)
    if manifest is not None:
        return manifest.version
    h = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(model_dir)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return f"{model_dir.name}-{h.hexdigest()[:12]}"


@contextlib.contextmanager
def _quiet_known_load_warnings() -> Iterator[None]:
    """Silence two harmless transformers warnings while loading, so they do not alarm operators:
    the unused BERT pooler "newly initialized" (e5 has no pooler, mean pooling is used) and 4.57.x's
    `fix_mistral_regex` notice, which it prints for every local tokenizer (it concerns Mistral only)."""
    # tensor_parallel too: transformers 4.57 verifies (and warns about) a TP plan whenever the
    # modeling_utils logger is set to WARNING or above
    names = (
        "transformers.modeling_utils",
        "transformers.tokenization_utils_base",
        "transformers.integrations.tensor_parallel",
    )
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def set_torch_threads(threads: int) -> None:
    """Apply `settings.models.torch_threads` (0 keeps torch's default)."""
    if threads > 0:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


class Embedder:
    """Thread-safe sentence encoder: float32, L2-normalised vectors of shape (n, dim).

    e5 models expect a prefix on every text: `query: ` for what users type, `passage: ` for what is
    indexed. Mean pooling over the attention mask.
    """

    def __init__(
        self,
        model_dir: Path,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 512,
        torch_threads: int = 0,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.torch_threads = torch_threads
        self.dim: int = 0
        self.version: str = ""
        self._flag: FlagModel | None = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        # recent one-text encodes: the router scores a turn with several bots at once, and the KB
        # and chitchat retrieval both encode the same `query: ` text (one e5 forward saved per turn)
        self._recent: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        #: off for latency measurements (`kb eval`), where a remembered vector would hide the encode
        self.remember = True
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self._recent_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._flag is not None

    def load(self) -> None:
        """Load tokenizer and weights (offline). Idempotent."""
        with self._load_lock:
            if self._flag is None:
                self._load()

    def _load(self) -> None:
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"no model at {self.model_dir}: run `csbot models prepare` (or check settings.models.dir)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        set_torch_threads(self.torch_threads)
        from FlagEmbedding import FlagModel

        with _quiet_known_load_warnings():
            flag = FlagModel(
                str(self.model_dir),
                query_instruction_for_retrieval=QUERY_PREFIX,
                passage_instruction_for_retrieval=PASSAGE_PREFIX,
                pooling_method="mean",
                devices=self.device,
                use_fp16=False,
                batch_size=self.batch_size,
                query_max_length=self.max_length,
                passage_max_length=self.max_length,
            )
        assert flag.model is not None
        flag.model.to(self.device)
        flag.model.eval()
        self.dim = int(flag.model.config.hidden_size)
        self.version = dir_version(self.model_dir)
        self._flag = flag
        log.info(
            "embedder %s loaded from %s (dim %d, %s)", self.version, self.model_dir, self.dim, self.device
        )

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Vectors for what users type (`query: ` prefix)."""
        return self.encode(texts, QUERY_PREFIX)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors for indexed documents (`passage: ` prefix)."""
        return self.encode(texts, PASSAGE_PREFIX)

    def encode(self, texts: list[str], prefix: str = QUERY_PREFIX) -> np.ndarray:
        """Encode `texts` with `prefix` prepended: float32 array (len(texts), dim), rows of norm 1."""
        if isinstance(texts, list) and len(texts) == 1 and isinstance(texts[0], str):
            return self._encode_one(texts[0], prefix)
        return self._encode(texts, prefix)

    def _encode_one(self, text: str, prefix: str) -> np.ndarray:
        """One text, remembered: concurrent callers of the same text wait for one forward pass.

        Hand-written because functools.lru_cache neither shares an in-flight computation between
        threads nor suits numpy results (each caller gets its own copy).
        """
        if not self.remember:
            return self._encode([text], prefix)
        key = (prefix, text)
        with self._recent_lock:
            hit = self._recent.get(key)
            if hit is not None:
                self._recent.move_to_end(key)
                return hit.copy()
            pending = self._inflight.get(key)
            if pending is None:
                self._inflight[key] = threading.Event()
        if pending is not None:
            pending.wait(60)
            with self._recent_lock:
                hit = self._recent.get(key)
            return hit.copy() if hit is not None else self._encode([text], prefix)
        try:
            out = self._encode([text], prefix)
            with self._recent_lock:
                self._recent[key] = out.copy()
                while len(self._recent) > RECENT_ENCODES:
                    self._recent.popitem(last=False)
            return out
        finally:
            with self._recent_lock:
                self._inflight.pop(key).set()

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        if self._flag is None:
            self.load()
        flag = self._flag
        assert flag is not None
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a str")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        import torch

        prefixed = [prefix + t for t in texts]
        # sort by length so each batch pads little; results go back in input order
        order = sorted(range(len(prefixed)), key=lambda i: len(prefixed[i]), reverse=True)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                # locked per batch, so a chat query waits for one batch of a long indexing job, not all of
                # it; the tokenizer is inside the lock because a fast tokenizer is not safe across threads
                # ("Already borrowed") when it sets its truncation and padding
                with self._lock:
                    batch = flag.tokenizer(
                        [prefixed[i] for i in idx],
                        padding=True,
                        truncation=True,
                        max_length=self.max_length,
                        return_tensors="pt",
                    ).to(self.device)
                    hidden = flag.model(**batch, return_dict=True).last_hidden_state
                    pooled = flag.pooling(hidden, batch["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "version": self.version,
            "dim": self.dim,
            "device": self.device,
        }
