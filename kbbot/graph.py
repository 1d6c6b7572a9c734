"""Product knowledge graph: entity/attribute questions answered from (subject, relation, object)
triples in a networkx graph.

Entity linking uses an Aho-Corasick automaton (pyahocorasick) over entity names and aliases
(spaces and case ignored); relations are matched by name or by a small built-in synonym list.
Supported: one hop ("X1 的保修期多久"), two hops ("X1 的配件多少钱" -> accessory -> price), and
simple filters ("哪些耳机支持降噪": category + a yes/no attribute, "哪些配件兼容 X1").
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import networkx as nx
from sqlalchemy import delete, select

from csbot.storage.db import Database
from csbot.storage.kb import KGAlias, KGTriple
from kbbot.schema import RowProblem

log = logging.getLogger(__name__)

CATEGORY_RELATION = "类别"
YES = {"是", "yes", "true", "支持", "有"}
NO = {"否", "no", "false", "不支持", "无"}
#: ways people ask for a relation, beyond its own name (zh and en)
RELATION_SYNONYMS: dict[str, list[str]] = {
    "保修期": ["保修", "质保", "保修多久", "保多久", "warranty", "guarantee"],
    "价格": ["多少钱", "售价", "价钱", "几块钱", "多少元", "price", "cost", "how much"],
    "重量": ["多重", "重不重", "几克", "weight", "weigh", "heavy"],
    "颜色": ["什么颜色", "哪些颜色", "几种颜色", "配色", "color", "colour", "colors", "colours"],
    "配件": ["附件", "送什么", "包装清单", "附带", "accessories", "in the box"],
    "电池续航": ["续航", "电池", "待机", "battery"],
    "屏幕尺寸": ["屏幕", "多大屏", "几寸", "screen"],
    "防水等级": ["防水", "waterproof", "water resistance"],
    "存储": ["内存多大", "容量", "多大存储", "storage"],
    "快充功率": ["快充多少瓦", "充电功率", "几瓦快充", "charging power"],
    "兼容": ["适配", "适用于", "能用在", "compatible", "works with"],
    "SKU": ["货号", "型号编码", "sku"],
    "品牌": ["牌子", "brand"],
    "支持快充": ["能快充", "快充吗", "fast charging"],
    "支持降噪": ["降噪", "noise cancelling", "noise canceling", "anc"],
}
LIST_WORDS = ("哪些", "哪几", "哪款", "哪个", "有什么", "which", "what", "list")


def _norm(text: str) -> str:
    return "".join(text.lower().split())


@dataclass
class GraphAnswer:
    text: str
    kind: str  # one_hop | two_hop | filter
    entities: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)


class KnowledgeGraph:
    def __init__(self, triples: Iterable[tuple[str, str, str]], aliases: Iterable[tuple[str, str]] = ()) -> None:
        self.triples = list(triples)
        self.aliases = list(aliases)
        self.g = nx.MultiDiGraph()
        self._entities: ahocorasick.Automaton | None = None
        self._relations: ahocorasick.Automaton | None = None
        self._values: ahocorasick.Automaton | None = None

    def load(self) -> None:
        for s, r, o in self.triples:
            self.g.add_edge(s, o, relation=r)
        ents = ahocorasick.Automaton()
        names: dict[str, str] = {}
        subjects = {s for s, _, _ in self.triples}
        for s in subjects:
            names[_norm(s)] = s
        for alias, entity in self.aliases:
            if entity in subjects:
                names.setdefault(_norm(alias), entity)
        for key, entity in names.items():
            ents.add_word(key, (len(key), entity))
        ents.make_automaton()
        self._entities = ents
        rels = ahocorasick.Automaton()
        rel_names = {r for _, r, _ in self.triples}
        words: dict[str, str] = {}
        for r in rel_names:
            words[_norm(r)] = r
            for syn in RELATION_SYNONYMS.get(r, []):
                words.setdefault(_norm(syn), r)
        for key, r in words.items():
            rels.add_word(key, (len(key), r))
        rels.make_automaton()
        self._relations = rels
        vals = ahocorasick.Automaton()
        for _, r, o in self.triples:
            if r == CATEGORY_RELATION:
                vals.add_word(_norm(o), (len(_norm(o)), o))
        if len(vals):
            vals.make_automaton()
            self._values = vals

    @staticmethod
    def _longest(auto: ahocorasick.Automaton | None, text: str) -> list[str]:
        """Non-overlapping matches, longest first, in order of appearance."""
        if auto is None or not len(auto):
            return []
        spans = []
        for end, (length, value) in auto.iter(text):
            spans.append((end - length + 1, end, value))
        spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
        taken: list[tuple[int, int, str]] = []
        for sp in spans:
            if all(sp[1] < t[0] or sp[0] > t[1] for t in taken):
                taken.append(sp)
        taken.sort()
        return list(dict.fromkeys(v for _, _, v in taken))

    def objects(self, subject: str, relation: str) -> list[str]:
        if subject not in self.g:
            return []
        return [o for _, o, d in self.g.out_edges(subject, data=True) if d["relation"] == relation]

    def subjects(self, relation: str, obj: str) -> list[str]:
        if obj not in self.g:
            return []
        return [s for s, _, d in self.g.in_edges(obj, data=True) if d["relation"] == relation]

    def answer(self, query: str, lang: str = "zh") -> GraphAnswer | None:
        q = _norm(query)
        entities = self._longest(self._entities, q)
        relations = self._longest(self._relations, q)
        trace: dict[str, Any] = {"entities": entities, "relations": relations}
        zh = lang == "zh"
        if entities and relations:
            ent = entities[0]
            rel = relations[0]
            objs = self.objects(ent, rel)
            if objs and len(relations) > 1:  # two hops: X 的配件 的 价格
                rel2 = relations[1]
                parts = [f"{o}：{'、'.join(self.objects(o, rel2))}" for o in objs if self.objects(o, rel2)]
                if parts:
                    text = (f"{ent}的{rel}{rel2}：" + "；".join(parts) + "。") if zh else \
                        f"{rel2} of the {rel} of {ent}: " + "; ".join(parts) + "."
                    return GraphAnswer(text, "two_hop", [ent], [rel, rel2], trace)
            if objs:
                if all(o in YES | NO for o in objs):
                    yes = objs[0] in YES
                    text = (f"{'是的，' if yes else '不，'}{ent}{'' if yes else '不'}{rel}。" if zh
                            else f"{'Yes' if yes else 'No'}: {ent} — {rel}: {objs[0]}.")
                else:
                    text = f"{ent}的{rel}：{'、'.join(objs)}。" if zh else f"{rel} of {ent}: {', '.join(objs)}."
                return GraphAnswer(text, "one_hop", [ent], [rel], trace)
            # "哪些配件兼容 X1": the entity is the object of the relation
            subs = self.subjects(rel, ent)
            if subs:
                text = (f"{rel}{ent}的有：{'、'.join(subs)}。" if zh
                        else f"{rel} {ent}: {', '.join(subs)}.")
                return GraphAnswer(text, "filter", [ent], [rel], trace)
        categories = self._longest(self._values, q)
        trace["categories"] = categories
        if categories and relations and any(w in q for w in LIST_WORDS):
            cat = categories[0]
            members = self.subjects(CATEGORY_RELATION, cat)
            wanted = next((r for r in relations if r != CATEGORY_RELATION), None)
            if wanted is None:
                return None
            hits = [m for m in members if any(o in YES for o in self.objects(m, wanted))]
            if not hits:
                return GraphAnswer(f"目前没有{wanted}的{cat}。" if zh else f"No {cat} with {wanted}.", "filter",
                                   [], [wanted], trace)
            text = f"{wanted}的{cat}有：{'、'.join(hits)}。" if zh else f"{cat} with {wanted}: {', '.join(hits)}."
            return GraphAnswer(text, "filter", hits, [wanted], trace)
        return None


def read_triples_file(path: Path) -> tuple[list[tuple[str, str, str]], list[RowProblem]]:
    rows: list[tuple[str, str, str]] = []
    problems: list[RowProblem] = []
    seen: dict[tuple[str, str, str], int] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("subject", "relation", "object") if c not in (reader.fieldnames or [])]
        if missing:
            return [], [RowProblem(line=1, column=c, reason="required column missing") for c in missing]
        for rec in reader:
            line = reader.line_num
            vals = {c: (rec.get(c) or "").strip() for c in ("subject", "relation", "object")}
            bad = [c for c, v in vals.items() if not v]
            for c in bad:
                problems.append(RowProblem(line=line, column=c, reason=f"empty {c}"))
            if bad:
                continue
            key = (vals["subject"], vals["relation"], vals["object"])
            if key in seen:
                problems.append(RowProblem(line=line, column="*", reason=f"duplicate triple (first on line {seen[key]})"))
                continue
            seen[key] = line
            rows.append(key)
    return rows, problems


def read_aliases_file(path: Path, entities: set[str]) -> tuple[list[tuple[str, str]], list[RowProblem]]:
    rows: list[tuple[str, str]] = []
    problems: list[RowProblem] = []
    owner: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            line = reader.line_num
            alias, entity = (rec.get("alias") or "").strip(), (rec.get("entity") or "").strip()
            if not alias or not entity:
                problems.append(RowProblem(line=line, column="alias" if not alias else "entity", reason="empty value"))
                continue
            if entity not in entities:
                problems.append(RowProblem(line=line, column="entity", reason=f"unknown entity {entity!r}"))
                continue
            if owner.get(_norm(alias), entity) != entity:
                problems.append(RowProblem(line=line, column="alias",
                                           reason=f"alias {alias!r} already names {owner[_norm(alias)]!r}"))
                continue
            owner[_norm(alias)] = entity
            rows.append((alias, entity))
    return rows, problems


def store_graph(db: Database, tenant_id: str, triples: list[tuple[str, str, str]],
                aliases: list[tuple[str, str]]) -> None:
    """Replace the tenant's graph in one transaction."""
    with db.session() as s:
        s.execute(delete(KGTriple).where(KGTriple.tenant_id == tenant_id))
        s.execute(delete(KGAlias).where(KGAlias.tenant_id == tenant_id))
        s.add_all(KGTriple(tenant_id=tenant_id, subject=a, relation=b, object=c) for a, b, c in triples)
        s.add_all(KGAlias(tenant_id=tenant_id, alias=a, entity=e) for a, e in dict(aliases).items())


def load_graph(db: Database, tenant_id: str) -> KnowledgeGraph | None:
    with db.session() as s:
        triples = [(t.subject, t.relation, t.object)
                   for t in s.scalars(select(KGTriple).where(KGTriple.tenant_id == tenant_id))]
        aliases = [(a.alias, a.entity) for a in s.scalars(select(KGAlias).where(KGAlias.tenant_id == tenant_id))]
    if not triples:
        return None
    g = KnowledgeGraph(triples, aliases)
    g.load()
    return g


__all__ = ["KnowledgeGraph", "GraphAnswer", "load_graph", "store_graph", "read_triples_file",
           "read_aliases_file", "defaultdict"]
