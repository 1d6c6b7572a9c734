"""The shipped chitchat corpus: paraphrases are indexed with their group's reply; bad rows are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.corpus import DATA, read_jsonl, shipped_pairs
from chatbot.retrieval_eval import EVAL_FILE, read_eval


def test_paraphrases_become_messages_with_the_group_reply(tmp_path: Path) -> None:
    f = tmp_path / "pairs.jsonl"
    f.write_text(json.dumps({"message": "你几岁了", "reply": "我没有年龄。", "paraphrases": ["你多大了"]},
                            ensure_ascii=False) + "\n", encoding="utf-8")
    pairs = read_jsonl(f, "t")
    assert {(p.message, p.reply) for p in pairs} == {("你几岁了", "我没有年龄。"), ("你多大了", "我没有年龄。")}


def test_bad_row_is_reported_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "pairs.jsonl"
    f.write_text('{"message": "hi", "reply": "hello"}\n{"message": "no reply"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs.jsonl:2"):
        read_jsonl(f, "t")


def test_held_out_queries_are_not_indexed_wordings() -> None:
    """The eval would measure nothing if its queries were in the index verbatim."""
    indexed = {p.message for p in shipped_pairs()}
    ours = {p.message for p in read_jsonl(DATA / "chitchat_zh.jsonl", "ours")}
    rows = read_eval(EVAL_FILE)
    assert {r.split for r in rows} == {"tune", "test"}
    assert not {r.query for r in rows} & indexed
    assert all(r.expect is None or r.expect in ours for r in rows)
