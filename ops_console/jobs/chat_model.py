"""Loading the chat model for training, data splits, and the evaluation report of a chat LoRA adapter.

The report compares, on held-out annotated examples (or the training examples when there are too
few to hold any out, flagged `heldout: false`), the greedy reply of the adapter and of the base model
with the operator's reply: `win_rate` (the primary metric promotion compares) is the share of
examples where the adapter's reply is closer to the operator's. A fixed regression set of everyday
messages checks that replies stay non-empty and in the right language.
"""

from __future__ import annotations

import difflib
import json
import os
import random
from pathlib import Path
from typing import Any

from csbot.config import Settings

REGRESSION_SET = Path(__file__).resolve().parent.parent / "data" / "chat_regression.jsonl"


def base_location(settings: Settings, params: dict[str, Any]) -> tuple[Path, str | None, str]:
    """(directory, gguf file or None, name) of the chat model the adapter is trained on."""
    from chatbot.model_paths import resolve_chat_model

    configured = params.get("base_model")
    if configured:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": str(configured)})})
    loc = resolve_chat_model(settings)
    return loc.directory, loc.gguf_file, loc.name


def load_base(settings: Settings, params: dict[str, Any], device: str) -> tuple[Any, Any, str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    directory, gguf, name = base_location(settings, params)
    kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    tok = AutoTokenizer.from_pretrained(str(directory), **kwargs)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32, **kwargs).to(device)
    return tok, model, name


def split(recs: list[dict[str, Any]], min_for_holdout: int, fraction: float, seed: int = 13
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(train, eval, heldout): hold out a fraction once there are enough examples, else evaluate on train."""
    if len(recs) < min_for_holdout:
        return recs, recs, False
    shuffled = recs[:]
    random.Random(seed).shuffle(shuffled)
    n_eval = max(1, int(len(recs) * fraction))
    return shuffled[n_eval:], shuffled[:n_eval], True


def regression_prompts() -> list[dict[str, str]]:
    return [json.loads(line) for line in REGRESSION_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.strip(), b.strip()).ratio()


def _eos_ids(tok: Any, model: Any) -> list[int]:
    ids: set[int] = set()
    for value in (tok.eos_token_id, model.config.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
    for special in ("<|im_end|>", "<|endoftext|>"):
        tid = tok.convert_tokens_to_ids(special)
        if isinstance(tid, int) and tid != tok.unk_token_id:
            ids.add(tid)
    return sorted(ids)


def generate(model: Any, tok: Any, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    """Greedy decoding, as the serving generator does."""
    import torch

    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=_eos_ids(tok, model), pad_token_id=tok.pad_token_id)
    return str(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)).strip()


def completion_logp(model: Any, tok: Any, prompt: list[dict[str, str]], reply: str) -> float:
    """Mean log-probability per token of `reply` after `prompt` (for preference accuracy)."""
    import torch

    p_ids = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    full = tok.apply_chat_template([*prompt, {"role": "assistant", "content": reply}], tokenize=True)
    p_ids, full = list(p_ids), list(full)
    ids = torch.tensor([full], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1)
    targets = ids[0, 1:]
    start = len(p_ids) - 1
    picked = logp[start:].gather(1, targets[start:].unsqueeze(1)).squeeze(1)
    return float(picked.mean()) if picked.numel() else 0.0


def evaluate_adapter(model: Any, tok: Any, examples: list[tuple[list[dict[str, str]], str]], *,
                     heldout: bool, pairs: list[tuple[list[dict[str, str]], str, str]] | None = None,
                     max_new_tokens: int = 64) -> dict[str, Any]:
    """The report of a PeftModel's active adapter against its base (adapter disabled)."""
    from chatbot.guards import language_ok

    model.eval()
    wins, sims, base_sims, samples = 0.0, [], [], []
    for prompt, reference in examples:
        budget = min(max_new_tokens, len(tok(reference)["input_ids"]) + 8)
        tuned = generate(model, tok, prompt, budget)
        with model.disable_adapter():
            base = generate(model, tok, prompt, budget)
        s_t, s_b = similarity(tuned, reference), similarity(base, reference)
        sims.append(s_t)
        base_sims.append(s_b)
        wins += 1.0 if s_t > s_b + 1e-9 else 0.5 if abs(s_t - s_b) <= 1e-9 else 0.0
        if len(samples) < 5:
            samples.append({"prompt": prompt[-1]["content"], "reference": reference, "adapter": tuned, "base": base})
    n = max(1, len(examples))
    report: dict[str, Any] = {
        "win_rate": round(wins / n, 4),
        "similarity": round(sum(sims) / n, 4),
        "base_similarity": round(sum(base_sims) / n, 4),
        "n_eval": len(examples),
        "heldout": heldout,
        "samples": samples,
    }
    if pairs:
        right = sum(1 for p, c, r in pairs if completion_logp(model, tok, p, c) > completion_logp(model, tok, p, r))
        report["pref_accuracy"] = round(right / len(pairs), 4)
    ok = 0
    regression = regression_prompts()
    for item in regression:
        reply = generate(model, tok, [{"role": "user", "content": item["query"]}], 24)
        ok += 1 if reply and language_ok(reply, item["lang"]) else 0
    report["regression_ok"] = round(ok / max(1, len(regression)), 4)
    return report
