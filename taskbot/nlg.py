"""Template NLG: a response name + variables + locale -> text, with variants and value labels.

Templates use `{name}`, `{name.path}` (into JSON looked up from the backend) and `{name|labels}`
(translate a value with a label table, e.g. an order status code to 已发货 / shipped). A missing
variable renders as empty text rather than failing the turn.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping
from datetime import datetime

from taskbot.domain import DomainSet, TaskDomain

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.\-]*)(?:\|([A-Za-z_]\w*))?\}")

Labels = Mapping[str, Mapping[str, Mapping[str, str]]]


def lookup_path(data: object, path: str) -> object:
    """Follow a dotted path through dicts and lists (`items.0.name`, `events.-1.desc`)."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
        if cur is None:
            return None
    return cur


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short_time(value: str) -> str:
    """ISO timestamp -> "11-04 12:41" (what a customer wants to read)."""
    try:
        return datetime.fromisoformat(value).strftime("%m-%d %H:%M")
    except ValueError:
        return value


def render_template(template: str, variables: Mapping[str, object], labels: Labels | None = None, lang: str = "zh") -> str:
    """Fill one template; `labels` translates `{x|table}` values."""

    def sub(m: re.Match[str]) -> str:
        value = lookup_path(variables, m.group(1))
        table = m.group(2)
        if table == "time" and isinstance(value, str):
            return _short_time(value)
        if table and labels and table in labels and value is not None:
            by_locale = labels[table].get(str(value))
            if by_locale:
                return by_locale.get(lang) or next(iter(by_locale.values()))
        return _fmt(value)

    return _PLACEHOLDER.sub(sub, template)


def template_vars(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


class NLG:
    """Renders a tenant's responses: the domain's own first, then the shared ones."""

    def __init__(self, dset: DomainSet) -> None:
        self.dset = dset

    def has(self, domain: TaskDomain | None, name: str) -> bool:
        return bool((domain and name in domain.responses) or name in self.dset.common.responses)

    def render(
        self,
        domain: TaskDomain | None,
        name: str,
        variables: Mapping[str, object],
        lang: str,
        seed: str | int | None = None,
    ) -> str:
        texts = (domain.responses.get(name) if domain else None) or self.dset.common.responses.get(name)
        if not texts:
            log.warning("no response %r (domain %s)", name, domain.domain if domain else None)
            return ""
        variants = texts.get(lang) or texts.get("zh") or next(iter(texts.values()))
        template = random.Random(seed).choice(variants) if len(variants) > 1 else variants[0]
        labels = {**self.dset.common.labels, **(domain.labels if domain else {})}
        return render_template(template, variables, labels, lang)
