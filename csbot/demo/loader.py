"""Typed readers for the bundled demo tenant's data files.

The bots' import code and `csbot up` consume these models rather than parsing the files
themselves, so one place validates the demo content and its formats.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"

Lang = Literal["zh", "en"]
FaqCategory = Literal[
    "shipping",
    "returns",
    "payment",
    "invoices",
    "accounts",
    "promotions",
    "after-sales",
    "membership",
    "products",
]
SensitiveAction = Literal["block", "mask", "escalate"]

#: the shop name the demo answers use through the `{shop_name}` variable
DEMO_SHOP_NAME = "小智商城"
DEMO_SHOP_NAME_EN = "SmartMall"


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaqItemIn(_In):
    """One standard question with its answer and the paraphrases customers type."""

    id: str = Field(pattern=r"^faq-\d{4}$")
    question: str = Field(min_length=2)
    answer: str = Field(min_length=2)
    similar: list[str] = Field(default_factory=list)
    category: FaqCategory
    lang: Lang


class FaqEvalQuery(_In):
    """A held-back query with the FAQ id it must retrieve, or None when it must get no answer."""

    query: str = Field(min_length=1)
    expected: str | None


class Triple(_In):
    """One fact of the product graph: (subject, relation, object)."""

    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)


class ProductAlias(_In):
    alias: str = Field(min_length=1)
    entity: str = Field(min_length=1)


class ChitchatPattern(_In):
    """Regexes (matched case-insensitively on normalised text) and the replies to pick from."""

    name: str
    lang: Lang
    patterns: list[str] = Field(min_length=1)
    replies: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        import re

        for pattern in value:
            re.compile(pattern)
        return value


class ChitchatPair(_In):
    message: str = Field(min_length=1)
    reply: str = Field(min_length=1)
    lang: Lang


class SensitiveWord(_In):
    term: str = Field(min_length=1)
    category: str = Field(min_length=1)
    action: SensitiveAction


class Synonym(_In):
    term: str = Field(min_length=1)
    canonical: str = Field(min_length=1)


def demo_path(name: str) -> Path:
    """Absolute path of a bundled demo data file, e.g. `demo_path("faq.jsonl")`."""
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no demo data file {name!r} in {DATA_DIR}")
    return path


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def load_faq(path: Path | None = None) -> list[FaqItemIn]:
    return [FaqItemIn.model_validate(row) for row in _jsonl(path or demo_path("faq.jsonl"))]


def load_faq_eval(path: Path | None = None) -> list[FaqEvalQuery]:
    return [FaqEvalQuery.model_validate(row) for row in _jsonl(path or demo_path("faq_eval.jsonl"))]


def load_triples(path: Path | None = None) -> list[Triple]:
    return [Triple.model_validate(row) for row in _csv(path or demo_path("products.csv"))]


def load_product_aliases(path: Path | None = None) -> list[ProductAlias]:
    return [ProductAlias.model_validate(row) for row in _csv(path or demo_path("product_aliases.csv"))]


def load_chitchat_patterns(path: Path | None = None) -> list[ChitchatPattern]:
    with (path or demo_path("chitchat_patterns.yml")).open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or []
    if not isinstance(data, list):
        raise ValueError("chitchat_patterns.yml: top level must be a list")
    return [ChitchatPattern.model_validate(row) for row in data]


def load_chitchat_pairs(path: Path | None = None) -> list[ChitchatPair]:
    return [ChitchatPair.model_validate(row) for row in _jsonl(path or demo_path("chitchat_pairs.jsonl"))]


def load_sensitive_words(path: Path | None = None) -> list[SensitiveWord]:
    return [SensitiveWord.model_validate(row) for row in _csv(path or demo_path("sensitive_words.csv"))]


def load_synonyms(path: Path | None = None) -> list[Synonym]:
    return [Synonym.model_validate(row) for row in _csv(path or demo_path("synonyms.csv"))]


def load_dictionary(path: Path | None = None) -> list[tuple[str, int | None]]:
    """Words for jieba's user dictionary: (word, frequency or None), in file order."""
    entries: list[tuple[str, int | None]] = []
    with (path or demo_path("dictionary.txt")).open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # jieba's own format: "word [freq] [tag]"; product names may contain spaces, so the
            # frequency is only taken when the last token is a number
            head, _, tail = line.rpartition(" ")
            if head and tail.isdigit():
                entries.append((head, int(tail)))
            else:
                entries.append((line, None))
    return entries


def render_answer(answer: str, shop_name: str = DEMO_SHOP_NAME) -> str:
    """Fill the `{shop_name}` variable the demo answers may use."""
    return answer.replace("{shop_name}", shop_name)
