"""The NLU contract: what a TaskBot asks of an intent classifier and of the slot extractors.

Kept in one small file so the rest of taskbot (DST, policy, the bot) can build on it without
importing any model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

#: the label used in training files and evaluation for out-of-scope utterances
OOS_LABEL = "oos"

SlotType = Literal["order_id", "phone", "date", "amount", "address", "product", "email", "text", "enum", "number"]


class IntentExample(BaseModel):
    """One labelled utterance; `intent == "oos"` marks an out-of-scope example."""

    text: str
    intent: str
    lang: str | None = None


class IntentPrediction(BaseModel):
    """The classifier's answer for one text. `intent is None` means out of scope."""

    intent: str | None
    confidence: float
    #: best first, (intent, probability); at most a handful of entries
    ranking: list[tuple[str, float]] = Field(default_factory=list)


class TrainReport(BaseModel):
    """What `fit` did: enough to log, to store beside the artefact and to compare runs."""

    model_config = ConfigDict(protected_namespaces=())

    classifier: str
    n_examples: int
    intents: list[str]
    train_s: float
    #: chosen out-of-scope threshold on the top probability (None: not calibrated)
    oos_threshold: float | None = None
    #: figures measured on the calibration split carved from the training data
    dev_metrics: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)


class SlotSpec(BaseModel):
    """A slot a domain asks for: its name, its type and, for enums, the allowed values."""

    name: str
    type: SlotType
    #: enum values; an entry "value|synonym|synonym" lists synonyms that map to `value`
    values: list[str] = Field(default_factory=list)
    #: custom regex (first group, else whole match, is the value); overrides the type's extractor
    pattern: str | None = None


class SlotValue(BaseModel):
    """A slot value found in a text. `value` is normalised (ISO date, digits); `raw` is the surface text."""

    name: str
    value: str
    raw: str
    start: int
    end: int
    extractor: str


@runtime_checkable
class IntentClassifier(Protocol):
    """Anything that maps texts to intents, with out-of-scope detection, and persists itself."""

    def fit(self, examples: list[IntentExample]) -> TrainReport: ...

    def predict(self, texts: list[str]) -> list[IntentPrediction]: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path, **deps: Any) -> Self: ...
