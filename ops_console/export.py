"""Annotations -> training sets: JSONL files in the formats TRL and LLaMA-Factory read.

    sft  trl:          {"messages": [system, user, assistant]}
         llamafactory: alpaca {"instruction", "input", "output", "system"}
    dpo  trl:          {"prompt": [system, user], "chosen": [assistant], "rejected": [assistant]}
         llamafactory: alpaca preference {"instruction", "input", "chosen", "rejected", "system"}
    nlu  (either):     {"text", "intent", "lang"} (what `csbot nlu train --data` reads)

Turns marked sensitive never enter a training set. The prompt is the ChatBot's own (persona and
guard rules), so a model trained on the set sees at training time what it sees in service.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from csbot.storage.db import Database
from csbot.storage.ops import TrainingSet
from ops_console import audit
from ops_console.annotations import AnnotationPublic, AnnotationService
from ops_console.prompting import chat_prompt

SetKind = Literal["sft", "dpo", "nlu"]
Format = Literal["trl", "llamafactory"]
SET_KINDS = ("sft", "dpo", "nlu")
FORMATS = ("trl", "llamafactory")


@dataclass(frozen=True)
class ExportedSet:
    id: str
    kind: str
    format: str
    path: str
    n_examples: int
    fingerprint: str


def records(db: Database, tenant_id: str, kind: str, fmt: str = "trl") -> tuple[list[dict[str, Any]], list[str]]:
    """The training records of `kind` in format `fmt`, and the annotation ids they came from."""
    if kind not in SET_KINDS:
        raise ValueError(f"unknown training set kind {kind!r}; expected one of {SET_KINDS}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    service = AnnotationService(db)
    sensitive = {a.turn_id for a in service.list(tenant_id, "sensitive") if a.turn_id}
    source = "intent" if kind == "nlu" else "reply"
    rows = [a for a in reversed(service.list(tenant_id, source, limit=100_000))
            if a.turn_id is None or a.turn_id not in sensitive]
    out: list[dict[str, Any]] = []
    ids: list[str] = []
    for a in rows:
        rec = _record(db, tenant_id, kind, fmt, a)
        if rec is not None:
            out.append(rec)
            ids.append(a.id)
    return out, ids


def _record(db: Database, tenant_id: str, kind: str, fmt: str, a: AnnotationPublic) -> dict[str, Any] | None:
    if kind == "nlu":
        return {"text": a.query, "intent": a.correction["intent"], "lang": a.lang}
    better = str(a.correction.get("reply") or "").strip()
    worse = str(a.bot_output.get("reply") or "").strip()
    if not better or not a.query:
        return None
    if kind == "dpo" and (not worse or worse == better):
        return None  # no rejected answer to prefer the better one over
    prompt = chat_prompt(db, tenant_id, a.lang, a.query)
    system = next((m["content"] for m in prompt if m["role"] == "system"), "")
    if fmt == "trl":
        if kind == "sft":
            return {"messages": [*prompt, {"role": "assistant", "content": better}]}
        return {"prompt": prompt, "chosen": [{"role": "assistant", "content": better}],
                "rejected": [{"role": "assistant", "content": worse}]}
    if kind == "sft":
        return {"instruction": a.query, "input": "", "output": better, "system": system}
    return {"instruction": a.query, "input": "", "chosen": better, "rejected": worse, "system": system}


def fingerprint(recs: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in recs:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def write_jsonl(path: Path, recs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in recs:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def llamafactory_dataset_info(name: str, file_name: str, kind: str) -> dict[str, Any]:
    """The `dataset_info.json` entry LLaMA-Factory needs to read the exported file."""
    if kind == "dpo":
        return {name: {"file_name": file_name, "ranking": True,
                       "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                   "rejected": "rejected", "system": "system"}}}
    return {name: {"file_name": file_name,
                   "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}}


def export(db: Database, data_dir: Path, tenant_id: str, kind: str, fmt: str = "trl", *, actor: str = "",
           out: Path | None = None) -> ExportedSet:
    """Write the training set to JSONL, record it as a TrainingSet row, and return where it is."""
    recs, ids = records(db, tenant_id, kind, fmt)
    fp = fingerprint(recs)
    row = TrainingSet(tenant_id=tenant_id, kind=kind, format=fmt, n_examples=len(recs), annotation_ids=ids,
                      fingerprint=fp, created_by=actor)
    with db.session() as s:
        s.add(row)
        s.flush()
        set_id = row.id
    path = out or data_dir / "training-sets" / tenant_id / f"{kind}-{fmt}-{set_id}.jsonl"
    write_jsonl(path, recs)
    if fmt == "llamafactory" and kind != "nlu":
        info = path.with_name("dataset_info.json")
        current = json.loads(info.read_text(encoding="utf-8")) if info.exists() else {}
        current.update(llamafactory_dataset_info(path.stem, path.name, kind))
        info.write_text(json.dumps(current, ensure_ascii=False, indent=2), encoding="utf-8")
    with db.session() as s:
        stored = s.get(TrainingSet, set_id)
        assert stored is not None
        stored.path = str(path)
    audit.record(db, tenant_id, actor or "system", "training_set.export", set_id,
                 {"kind": kind, "format": fmt, "n": len(recs)})
    return ExportedSet(set_id, kind, fmt, str(path), len(recs), fp)


def load_set(db: Database, set_id: str, tenant_id: str) -> tuple[TrainingSet, list[dict[str, Any]]]:
    with db.session() as s:
        row = s.get(TrainingSet, set_id)
        if row is None or row.tenant_id != tenant_id:
            raise LookupError(f"no training set {set_id}")
    lines = Path(row.path).read_text(encoding="utf-8").splitlines()
    return row, [json.loads(line) for line in lines if line.strip()]
