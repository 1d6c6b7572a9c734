"""Task domains as YAML: intents, slots, forms, actions, responses and rules, validated by pydantic.

One file describes one task (order status, return, ...); a directory of files is a tenant's
`DomainSet`. A bad file is reported with its path, the line of the offending node and what is
wrong, so an operator can fix it without reading a traceback; the caller keeps the running set.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taskbot.nlu.types import SlotSpec, SlotType

log = logging.getLogger(__name__)

PACKAGED_DOMAINS = Path(__file__).with_name("domains")
#: domain name of a file that only holds shared responses and labels
COMMON = "_common"

Locale = Literal["zh", "en"]
#: templates per locale; a list means variants, one picked per turn
Texts = dict[str, list[str]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _as_variants(v: object) -> object:
    """Accept `{zh: "text"}` as well as `{zh: ["a", "b"]}`."""
    if isinstance(v, dict):
        return {k: ([x] if isinstance(x, str) else x) for k, x in v.items()}
    return v


class IntentDef(_Strict):
    examples: dict[Locale, list[str]] = Field(default_factory=dict)
    #: regexes for the rule classifier used before a model is trained (any locale)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, v: list[str]) -> list[str]:
        for p in v:
            re.compile(p)
        return v

    @field_validator("examples")
    @classmethod
    def _some_examples(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if not any(v.values()):
            raise ValueError("an intent needs at least one example")
        return v


class Validation(_Strict):
    """Checks a filled value must pass; `message` is said when it fails (with {value})."""

    regex: str | None = None
    min: float | None = None
    max: float | None = None
    #: an action called with the slot filled; a 404/4xx answer makes the value invalid
    lookup: str | None = None
    #: where the lookup's JSON goes in the frame's variables (default: the action name)
    store_as: str | None = None
    message: Texts = Field(default_factory=dict)
    #: said when the lookup finds nothing (default: `message`)
    lookup_message: Texts = Field(default_factory=dict)

    _v = field_validator("message", "lookup_message", mode="before")(_as_variants)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)
        return v


class SlotDef(_Strict):
    type: SlotType = "text"
    #: what the slot is called in messages ("订单号" / "order number")
    label: dict[Locale, str] = Field(default_factory=dict)
    values: list[str] = Field(default_factory=list)
    pattern: str | None = None
    prompt: Texts = Field(default_factory=dict)
    validation: Validation | None = None
    #: a slot with the same name in another domain hands its value over (order number)
    shared: bool = False
    default: str | None = None

    _p = field_validator("prompt", mode="before")(_as_variants)


class FormDef(_Strict):
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)


class ActionDef(_Strict):
    """One HTTP call to the business backend."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    #: path template with {slot} / {var.path} placeholders, joined to the tenant's shop URL
    path: str
    #: JSON body: field -> template; a field whose template resolves to empty is left out
    body: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 3.0
    retries: int = 1
    side_effect: bool = False
    #: response variables: name -> dotted path in the JSON answer
    result: dict[str, str] = Field(default_factory=dict)
    #: HTTP status -> response name said instead of the success response
    errors: dict[int, str] = Field(default_factory=dict)


class Condition(_Strict):
    slot: str | None = None
    op: Literal[">", ">=", "<", "<=", "==", "!=", "in"] = ">"
    value: float | str | list[str] | None = None
    failures: int | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        if (self.slot is None) == (self.failures is None):
            raise ValueError("a condition names either `slot` (with op and value) or `failures`")
        if self.slot is not None and self.value is None:
            raise ValueError("a slot condition needs a `value`")
        return self


class Effect(_Strict):
    confirm: bool = False
    handoff: bool = False
    #: a response said together with the confirmation / handoff
    say: str | None = None


class RuleDef(_Strict):
    name: str = ""
    when: Condition
    then: Effect


class TaskDomain(_Strict):
    """One task: what it is asked with, what it needs, what it calls and what it says."""

    domain: str
    title: dict[Locale, str] = Field(default_factory=dict)
    intents: dict[str, IntentDef] = Field(default_factory=dict)
    slots: dict[str, SlotDef] = Field(default_factory=dict)
    form: FormDef = Field(default_factory=FormDef)
    #: the action run when the form is complete
    action: str | None = None
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    responses: dict[str, Texts] = Field(default_factory=dict)
    rules: list[RuleDef] = Field(default_factory=list)
    #: value labels for templates: variable -> value -> locale -> label (e.g. order status)
    labels: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)

    @field_validator("responses", mode="before")
    @classmethod
    def _variants(cls, v: object) -> object:
        if isinstance(v, dict):
            return {k: _as_variants(x) for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _references(self) -> TaskDomain:
        if self.domain == COMMON:
            return self
        if not self.intents:
            raise ValueError("a task domain needs at least one intent")
        for name in [*self.form.required, *self.form.optional]:
            if name not in self.slots:
                raise ValueError(f"form slot {name!r} is not declared under `slots`")
        if self.action is not None and self.action not in self.actions:
            raise ValueError(f"action {self.action!r} is not declared under `actions`")
        for sname, slot in self.slots.items():
            if slot.validation and slot.validation.lookup and slot.validation.lookup not in self.actions:
                raise ValueError(f"slot {sname!r}: lookup action {slot.validation.lookup!r} is not declared")
        if "done" not in self.responses:
            raise ValueError("responses must define `done` (said when the task completes)")
        for rule in self.rules:
            if rule.when.slot is not None and rule.when.slot not in self.slots:
                raise ValueError(f"rule {rule.name!r} refers to unknown slot {rule.when.slot!r}")
        return self

    @property
    def side_effect(self) -> bool:
        return bool(self.action and self.actions[self.action].side_effect)

    def slot_specs(self) -> list[SlotSpec]:
        return [SlotSpec(name=n, type=s.type, values=s.values, pattern=s.pattern) for n, s in self.slots.items()]


class DomainFileError(_Strict):
    """One problem in one file, located for an operator."""

    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.where + ': ' if self.where else ''}{self.message}"


class DomainLoadError(Exception):
    def __init__(self, errors: list[DomainFileError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class DomainSet(BaseModel):
    """A tenant's tasks, plus the shared responses and labels, and the file stamps they came from."""

    domains: dict[str, TaskDomain]
    common: TaskDomain
    source: str = ""
    #: file path -> mtime, to notice edits without a restart
    stamps: dict[str, float] = Field(default_factory=dict)

    def intent_to_domain(self) -> dict[str, str]:
        return {intent: d.domain for d in self.domains.values() for intent in d.intents}


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk the composed YAML tree along a pydantic error `loc` and return the 1-based line."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if str(key.value) == str(part):
                    nxt = value
                    line = key.start_mark.line + 1
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_domain_file(path: Path) -> TaskDomain:
    """Parse and validate one file; raises DomainLoadError with located messages."""
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DomainLoadError([DomainFileError(file=str(path), line=line, where="", message=f"YAML syntax: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(data, dict):
        raise DomainLoadError([DomainFileError(file=str(path), line=1, where="", message="top level must be a mapping")])
    try:
        return TaskDomain.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            errors.append(
                DomainFileError(
                    file=str(path),
                    line=_node_line(root, loc),
                    where=".".join(str(p) for p in loc),
                    message=err["msg"],
                )
            )
        raise DomainLoadError(errors) from exc


def domain_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def load_domain_dir(directory: Path) -> DomainSet:
    """Load every file of a directory; all problems of all files are reported together."""
    errors: list[DomainFileError] = []
    domains: dict[str, TaskDomain] = {}
    common = TaskDomain(domain=COMMON)
    stamps: dict[str, float] = {}
    intents_seen: dict[str, str] = {}
    for path in domain_files(directory):
        stamps[str(path)] = path.stat().st_mtime
        try:
            dom = load_domain_file(path)
        except DomainLoadError as exc:
            errors.extend(exc.errors)
            continue
        if dom.domain == COMMON:
            common = dom
            continue
        if dom.domain in domains:
            errors.append(DomainFileError(file=str(path), line=1, where="domain", message=f"duplicate domain {dom.domain!r}"))
        for intent in dom.intents:
            if intent in intents_seen:
                errors.append(
                    DomainFileError(file=str(path), line=None, where=f"intents.{intent}", message=f"intent already defined by domain {intents_seen[intent]!r}")
                )
            intents_seen[intent] = dom.domain
        domains[dom.domain] = dom
    if errors:
        raise DomainLoadError(errors)
    return DomainSet(domains=domains, common=common, source=str(directory), stamps=stamps)


def stamps_changed(dset: DomainSet) -> bool:
    """True when a file of the set was edited, added or removed since it was loaded."""
    directory = Path(dset.source)
    if not directory.is_dir():
        return bool(dset.stamps)
    current = {str(p): p.stat().st_mtime for p in domain_files(directory)}
    return current != dset.stamps
