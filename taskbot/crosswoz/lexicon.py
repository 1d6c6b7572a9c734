"""Value lexicon for CrossWOZ from its databases: entity names per domain, dishes, facilities, hotel types.

Matching uses Aho-Corasick (pyahocorasick) because the name lists run to thousands of entries and a
turn is matched against all of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick

from csbot.paths import shared_data_dir

log = logging.getLogger(__name__)

DEFAULT_DB_DIR = shared_data_dir() / "crosswoz" / "database"
DOMAINS = ("景点", "餐馆", "酒店", "地铁", "出租")
#: generic words that are also listed as dishes ("没有", "其他") or name a cuisine, not a dish
DISH_STOPWORDS = frozenset({"没有", "其他", "烤鸭", "烤肉", "小吃", "火锅", "早餐", "蛋糕", "烤串", "特色菜", "套餐", "饮料", "米饭", "面条"})
_FILES = {"景点": "attraction_db.json", "餐馆": "restaurant_db.json", "酒店": "hotel_db.json", "地铁": "metro_db.json"}


@dataclass(frozen=True)
class Mention:
    kind: str  # "name:<domain>" | "dish" | "facility" | "hotel_type"
    value: str
    start: int
    end: int


@dataclass
class Lexicon:
    names: dict[str, set[str]] = field(default_factory=dict)
    dishes: set[str] = field(default_factory=set)
    facilities: set[str] = field(default_factory=set)
    hotel_types: set[str] = field(default_factory=set)
    #: database rows by domain and name, to check what the system offered against the constraints
    rows: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    _automaton: ahocorasick.Automaton | None = None

    @classmethod
    def from_dir(cls, db_dir: Path = DEFAULT_DB_DIR) -> Lexicon:
        lex = cls(names={d: set() for d in DOMAINS})
        for domain, fname in _FILES.items():
            path = db_dir / fname
            if not path.exists():
                log.warning("CrossWOZ database %s missing", path)
                continue
            for name, row in json.loads(path.read_text(encoding="utf-8")):
                if domain != "地铁":
                    lex.names[domain].add(name.strip())
                    lex.rows.setdefault(domain, {})[name.strip()] = row
                lex.dishes.update(x.strip() for x in row.get("推荐菜") or [] if x and x.strip())
                lex.facilities.update(x.strip() for x in row.get("酒店设施") or [] if x and x.strip())
                if row.get("酒店类型"):
                    lex.hotel_types.add(row["酒店类型"].strip())
        lex._build()
        return lex

    def _build(self) -> None:
        auto = ahocorasick.Automaton()
        entries: dict[str, list[tuple[str, str]]] = {}

        def add(word: str, kind: str, value: str) -> None:
            if len(word) < 2:
                return
            entries.setdefault(word, []).append((kind, value))

        for domain, names in self.names.items():
            for name in names:
                add(name, f"name:{domain}", name)
        all_names = set().union(*self.names.values())
        for dish in self.dishes:
            if dish not in DISH_STOPWORDS and dish not in all_names:
                add(dish, "dish", dish)
        for fac in self.facilities:
            add(fac, "facility", fac)
        for word, items in entries.items():
            auto.add_word(word, (word, items))
        auto.make_automaton()
        self._automaton = auto

    def find(self, text: str) -> list[Mention]:
        """All mentions, longest-leftmost without overlaps inside the same kind family."""
        assert self._automaton is not None
        raw: list[Mention] = []
        for end, (word, items) in self._automaton.iter(text):
            start = end - len(word) + 1
            for kind, value in items:
                raw.append(Mention(kind, value, start, end + 1))
        raw.sort(key=lambda m: (-(m.end - m.start), m.start))
        taken: list[tuple[int, int]] = []
        out: list[Mention] = []
        for m in raw:
            if any(m.start < e and s < m.end for s, e in taken):
                # the same span may be both a name and a dish; keep both readings of one span
                if not any(o.start == m.start and o.end == m.end for o in out):
                    continue
            taken.append((m.start, m.end))
            out.append(m)
        out.sort(key=lambda m: m.start)
        return out
