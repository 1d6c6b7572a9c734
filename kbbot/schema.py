"""Typed FAQ items and import problems: the boundary types of the KB package."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FaqItem(BaseModel):
    """One FAQ item: a standard question, its answer and the other ways people ask it."""

    model_config = ConfigDict(extra="forbid")

    faq_id: str
    question: str
    answer: str
    similar: list[str] = Field(default_factory=list)
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    lang: str = ""
    valid_from: float | None = None
    valid_to: float | None = None
    enabled: bool = True

    def questions(self) -> list[str]:
        """The standard question first, then the similar ones (deduplicated, order kept)."""
        seen: dict[str, None] = {}
        for q in [self.question, *self.similar]:
            q = q.strip()
            if q and q not in seen:
                seen[q] = None
        return list(seen)

    def live_at(self, now: float) -> bool:
        if not self.enabled:
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        return not (self.valid_to is not None and now >= self.valid_to)


class RowProblem(BaseModel):
    """Why one row of an import file was refused (1-based line as an editor shows it)."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.reason}"


class ImportReport(BaseModel):
    ok: bool
    items: int = 0
    created: int = 0
    updated: int = 0
    problems: list[RowProblem] = Field(default_factory=list)
    published_version: int | None = None
