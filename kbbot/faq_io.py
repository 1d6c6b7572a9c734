"""Reading and writing FAQ files (CSV, XLSX, JSONL) with whole-file validation.

Every row is checked before anything is stored, and every problem is reported with its line and
column, so an operator fixes the file in one pass and nothing is ever half-imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbbot.schema import FaqItem, RowProblem

log = logging.getLogger(__name__)

COLUMNS = ("id", "question", "answer", "similar", "category")
REQUIRED = ("question", "answer")
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 20_000
SIMILAR_SEPARATOR = "||"


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, Any]


class FaqFileError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, missing columns)."""


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise FaqFileError(f"{path.name}: unknown format {suffix!r} (use .csv, .xlsx or .jsonl)")


def read_rows(path: Path) -> tuple[list[RawRow], list[RowProblem]]:
    """Raw rows with their 1-based line numbers, plus problems found while parsing."""
    fmt = detect_format(path)
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "xlsx":
        return _read_xlsx(path)
    return _read_jsonl(path)


def _check_header(header: Iterable[str]) -> list[RowProblem]:
    names = {h.strip().lower() for h in header if h}
    return [RowProblem(line=1, column=c, reason="required column missing") for c in REQUIRED if c not in names]


def _read_csv(path: Path) -> tuple[list[RawRow], list[RowProblem]]:
    text = path.read_text(encoding="utf-8-sig")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise FaqFileError(f"{path.name}: empty file")
    problems = _check_header(reader.fieldnames)
    rows: list[RawRow] = []
    for record in reader:
        # line_num is the physical line where the record ended; quoted newlines span lines
        rows.append(RawRow(reader.line_num, {(k or "").strip().lower(): v for k, v in record.items()}))
    return rows, problems


def _read_xlsx(path: Path) -> tuple[list[RawRow], list[RowProblem]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise FaqFileError(f"{path.name}: empty sheet")
        names = [str(h or "").strip().lower() for h in header]
        problems = _check_header(names)
        rows = []
        for i, values in enumerate(it, start=2):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            rows.append(RawRow(i, {n: ("" if v is None else v) for n, v in zip(names, values, strict=False)}))
    finally:
        wb.close()
    return rows, problems


def _read_jsonl(path: Path) -> tuple[list[RawRow], list[RowProblem]]:
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    with path.open(encoding="utf-8-sig") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(RowProblem(line=i, column="*", reason=f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append(RowProblem(line=i, column="*", reason="a line must be a JSON object"))
                continue
            rows.append(RawRow(i, {str(k).strip().lower(): v for k, v in obj.items()}))
    return rows, problems


def split_similar(value: Any) -> list[str] | None:
    """`similar` as a list: a JSON list, or text separated by newlines or `||`; None if malformed."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        parts = value
    elif isinstance(value, str):
        parts = value.replace(SIMILAR_SEPARATOR, "\n").splitlines()
    else:
        return None
    return [p.strip() for p in parts if p.strip()]


def question_key(text: str) -> str:
    """What makes two questions 'the same' for duplicate checks: case and spacing do not count."""
    return "".join(text.lower().split())


def generated_id(question: str) -> str:
    return "faq-" + hashlib.sha1(question.strip().encode("utf-8")).hexdigest()[:10]


def parse_items(rows: list[RawRow]) -> tuple[list[FaqItem], list[RowProblem]]:
    """Turn raw rows into items, collecting every problem (nothing is dropped silently)."""
    problems: list[RowProblem] = []
    items: list[FaqItem] = []
    id_line: dict[str, int] = {}
    owner: dict[str, tuple[str, int]] = {}  # question key -> (faq id, line)
    for row in rows:
        v = row.values
        row_problems: list[RowProblem] = []
        question = str(v.get("question") or "").strip()
        answer = str(v.get("answer") or "").strip()
        raw_id = v.get("id")
        faq_id = str(raw_id).strip() if raw_id not in (None, "") else ""
        if not question:
            row_problems.append(RowProblem(line=row.line, column="question", reason="empty question"))
        elif len(question) > MAX_QUESTION_CHARS:
            row_problems.append(RowProblem(line=row.line, column="question",
                                           reason=f"question longer than {MAX_QUESTION_CHARS} characters"))
        if not answer:
            row_problems.append(RowProblem(line=row.line, column="answer", reason="empty answer"))
        elif len(answer) > MAX_ANSWER_CHARS:
            row_problems.append(RowProblem(line=row.line, column="answer",
                                           reason=f"answer longer than {MAX_ANSWER_CHARS} characters"))
        similar = split_similar(v.get("similar"))
        if similar is None:
            row_problems.append(RowProblem(line=row.line, column="similar",
                                           reason="must be text (newline or || separated) or a list of strings"))
            similar = []
        too_long = [s for s in similar if len(s) > MAX_QUESTION_CHARS]
        if too_long:
            row_problems.append(RowProblem(line=row.line, column="similar",
                                           reason=f"similar question longer than {MAX_QUESTION_CHARS} characters"))
        if question and not faq_id:
            faq_id = generated_id(question)
        if faq_id:
            if len(faq_id) > 128:
                row_problems.append(RowProblem(line=row.line, column="id", reason="id longer than 128 characters"))
            elif faq_id in id_line:
                row_problems.append(RowProblem(line=row.line, column="id",
                                               reason=f"duplicate id {faq_id!r} (first on line {id_line[faq_id]})"))
            else:
                id_line[faq_id] = row.line
        for column, texts in (("question", [question] if question else []), ("similar", similar)):
            for text in texts:
                key = question_key(text)
                prev = owner.get(key)
                if prev is not None and prev[0] != faq_id:
                    row_problems.append(RowProblem(
                        line=row.line, column=column,
                        reason=f"question {text!r} is also claimed by item {prev[0]!r} on line {prev[1]}"))
                elif prev is None:
                    owner[key] = (faq_id, row.line)
        if row_problems:
            problems.extend(row_problems)
            continue
        own = question_key(question)
        items.append(FaqItem(
            faq_id=faq_id,
            question=question,
            answer=answer,
            similar=[s for s in dict.fromkeys(similar) if question_key(s) != own],
            category=str(v.get("category") or "").strip(),
            lang=str(v.get("lang") or "").strip(),
            tags=_as_list(v.get("tags")),
            channels=_as_list(v.get("channels")),
        ))
    return items, problems


def _as_list(value: Any) -> list[str]:
    parts = split_similar(value)
    return parts or []


def load_file(path: Path) -> tuple[list[FaqItem], list[RowProblem]]:
    """Read and validate a whole FAQ file."""
    rows, problems = read_rows(path)
    if not rows and not problems:
        problems.append(RowProblem(line=1, column="*", reason="no FAQ rows in the file"))
    items, row_problems = parse_items(rows)
    return items, problems + row_problems


def _export_rows(items: Iterable[FaqItem]) -> Iterator[dict[str, str]]:
    for it in items:
        yield {
            "id": it.faq_id,
            "question": it.question,
            "answer": it.answer,
            "similar": "\n".join(it.similar),
            "category": it.category,
        }


def write_file(items: list[FaqItem], path: Path) -> None:
    """Write items in the format named by the file's suffix; the output re-imports unchanged."""
    fmt = detect_format(path)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for it in items:
                obj = {"id": it.faq_id, "question": it.question, "answer": it.answer, "similar": it.similar,
                       "category": it.category}
                if it.lang:
                    obj["lang"] = it.lang
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows(_export_rows(items))
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(list(COLUMNS))
        for row in _export_rows(items):
            ws.append([row[c] for c in COLUMNS])
        wb.save(path)
