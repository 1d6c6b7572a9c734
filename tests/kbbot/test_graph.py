from __future__ import annotations

from pathlib import Path

import pytest

from csbot.storage.db import Database
from kbbot.graph import KnowledgeGraph, load_graph, read_aliases_file, read_triples_file, store_graph

TRIPLES = [
    ("小智 X1 手机", "类别", "手机"), ("小智 X1 手机", "保修期", "1年"), ("小智 X1 手机", "价格", "2999元"),
    ("小智 X1 手机", "颜色", "曜石黑"), ("小智 X1 手机", "颜色", "冰川白"), ("小智 X1 手机", "配件", "66W 充电器"),
    ("66W 充电器", "价格", "129元"), ("66W 充电器", "兼容", "小智 X1 手机"),
    ("小智 Buds Pro", "类别", "耳机"), ("小智 Buds Pro", "支持降噪", "是"),
    ("声浪 H1", "类别", "耳机"), ("声浪 H1", "支持降噪", "是"),
    ("小智 Buds Lite", "类别", "耳机"), ("小智 Buds Lite", "支持降噪", "否"),
]
ALIASES = [("X1手机", "小智 X1 手机"), ("x1 phone", "小智 X1 手机")]


@pytest.fixture
def graph() -> KnowledgeGraph:
    g = KnowledgeGraph(TRIPLES, ALIASES)
    g.load()
    return g


@pytest.mark.parametrize("query,lang,expected", [
    ("X1手机的保修期多久", "zh", "小智 X1 手机的保修期：1年。"),
    ("小智X1手机质保多长时间", "zh", "小智 X1 手机的保修期：1年。"),
    ("x1 phone 有哪些颜色", "zh", "小智 X1 手机的颜色：曜石黑、冰川白。"),
    ("How much is the X1 phone?", "en", "价格 of 小智 X1 手机: 2999元."),
    ("X1手机的配件多少钱", "zh", "小智 X1 手机的配件价格：66W 充电器：129元。"),
    ("小智 Buds Lite 支持降噪吗", "zh", "不，小智 Buds Lite不支持降噪。"),
])
def test_graph_answers_one_and_two_hop_questions(graph: KnowledgeGraph, query: str, lang: str, expected: str) -> None:
    ans = graph.answer(query, lang)
    assert ans is not None and ans.text == expected


def test_graph_filter_lists_matching_entities(graph: KnowledgeGraph) -> None:
    ans = graph.answer("哪些耳机支持降噪", "zh")
    assert ans is not None and ans.kind == "filter"
    assert sorted(ans.entities) == ["声浪 H1", "小智 Buds Pro"]


def test_graph_reverse_relation(graph: KnowledgeGraph) -> None:
    ans = graph.answer("哪些配件兼容X1手机", "zh")
    assert ans is not None and "66W 充电器" in ans.text


@pytest.mark.parametrize("query", ["今天天气怎么样", "X1手机", "运费怎么算"])
def test_graph_stays_silent_without_entity_and_relation(graph: KnowledgeGraph, query: str) -> None:
    assert graph.answer(query, "zh") is None


def test_graph_import_validates_every_row(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("subject,relation,object\nA,价格,1元\n,价格,2元\nA,价格,1元\nB,,x\n", encoding="utf-8")
    rows, problems = read_triples_file(f)
    assert rows == [("A", "价格", "1元")]
    assert {(p.line, p.column) for p in problems} == {(3, "subject"), (4, "*"), (5, "relation")}
    a = tmp_path / "a.csv"
    a.write_text("alias,entity\nAA,A\nZZ,Nope\nAA,C\n", encoding="utf-8")
    aliases, problems = read_aliases_file(a, {"A", "C"})
    assert aliases == [("AA", "A")]
    assert {(p.line, p.column) for p in problems} == {(3, "entity"), (4, "alias")}


def test_graph_store_and_load_round_trip(db: Database) -> None:
    store_graph(db, "g1", TRIPLES, ALIASES)
    g = load_graph(db, "g1")
    assert g is not None and g.answer("X1手机多少钱", "zh").text == "小智 X1 手机的价格：2999元。"
    assert load_graph(db, "other") is None


def test_demo_product_graph_answers(db: Database) -> None:
    from csbot.demo.loader import demo_path

    triples, problems = read_triples_file(demo_path("products.csv"))
    assert not problems and len({s for s, _, _ in triples}) >= 50
    aliases, problems = read_aliases_file(demo_path("product_aliases.csv"), {s for s, _, _ in triples})
    assert not problems
    g = KnowledgeGraph(triples, aliases)
    g.load()
    assert "1年" in g.answer("小智X1的保修期多久", "zh").text
    assert g.answer("哪些耳机支持降噪", "zh").kind == "filter"
