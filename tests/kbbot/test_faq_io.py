from __future__ import annotations

import json
from pathlib import Path

import pytest

from csbot.storage.db import Database
from kbbot.faq_io import load_file, write_file
from kbbot.kb_store import KBStore
from kbbot.schema import FaqItem
from tests.kbbot.conftest import DATA, FAQ_SMALL


def test_import_bad_rows_reports_every_problem_and_changes_nothing(tiny_service, db: Database) -> None:
    before = tiny_service.import_file("t1", DATA / "good.csv")
    assert before.ok
    report = tiny_service.import_file("t1", DATA / "bad.csv")
    assert not report.ok
    found = {(p.line, p.column) for p in report.problems}
    assert (3, "question") in found  # empty question
    assert (4, "id") in found  # duplicate id a1
    assert (5, "similar") in found  # 包邮吗 already claimed by a1
    assert (6, "answer") in found  # empty answer
    assert any("duplicate id" in p.reason for p in report.problems)
    # the draft is exactly what the good file put there
    items = {it.faq_id: it for it in KBStore(db).draft_items("t1")}
    assert set(items) == {"c1", "c2"}
    assert items["c2"].similar == ["几天发货", "什么时候发货"]



def test_import_conflict_with_existing_draft_item(tiny_service, tmp_path: Path) -> None:
    assert tiny_service.import_file("t3", DATA / "good.csv").ok
    f = tmp_path / "more.jsonl"
    f.write_text(json.dumps({"id": "x9", "question": "邮费多少", "answer": "见运费说明"}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    report = tiny_service.import_file("t3", f)
    assert not report.ok
    assert "already claimed by item 'c1'" in report.problems[0].reason


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl"])
def test_export_then_import_round_trips(tmp_path: Path, suffix: str) -> None:
    items, problems = load_file(FAQ_SMALL)
    assert not problems and len(items) == 12
    out = tmp_path / f"export{suffix}"
    write_file(items, out)
    again, problems = load_file(out)
    assert not problems
    assert [(i.faq_id, i.question, i.answer, i.similar, i.category) for i in again] == \
        [(i.faq_id, i.question, i.answer, i.similar, i.category) for i in items]


def test_jsonl_similar_as_list_and_bad_json_line(tmp_path: Path) -> None:
    f = tmp_path / "f.jsonl"
    f.write_text('{"id": "a", "question": "q1", "answer": "a1", "similar": ["s1", "s2"]}\n{not json}\n'
                 '{"id": "b", "question": "q2", "answer": "a2", "similar": 5}\n', encoding="utf-8")
    items, problems = load_file(f)
    assert [it.similar for it in items] == [["s1", "s2"]]
    assert {(p.line, p.column) for p in problems} == {(2, "*"), (3, "similar")}


def test_missing_required_column_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "f.csv"
    f.write_text("id,question\n1,hello\n", encoding="utf-8")
    _, problems = load_file(f)
    assert any(p.line == 1 and p.column == "answer" for p in problems)


def test_faq_item_questions_are_deduplicated() -> None:
    it = FaqItem(faq_id="x", question="A", answer="b", similar=["B", "A", "B "])
    assert it.questions() == ["A", "B"]
