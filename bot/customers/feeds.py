"""Reading feed files into numbered rows: JSON, NDJSON, CSV and xlsx.

A JSON document `{"advisors": [...], "customers": [...], "events": [...]}` carries its kinds;
NDJSON, CSV and xlsx hold one kind named by `--kind` (an xlsx workbook may instead name its
sheets `advisors`, `customers`, `events`). Row numbers are what a person finds in the file:
the line for NDJSON and CSV (the header is line 1), the sheet row for xlsx, the position in
its array (from 1) for JSON. In CSV and xlsx, `tags` is `a|b|c` or a JSON array, `holdings`
a JSON array and `margin`/`attrs` JSON objects.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("advisors", "customers", "events")


class FeedError(Exception):
    """The file as a whole cannot be read (not a per-row problem)."""


@dataclass(frozen=True)
class Row:
    kind: str
    number: int
    data: dict[str, Any] | None  # None: the row itself is not an object
    problem: str | None = None


def read_feed(path: Path, kind: str | None = None) -> Iterator[Row]:
    """Rows of `path` in the order advisors, customers, events (so references resolve)."""
    if not path.exists():
        raise FeedError(f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if kind is not None and kind not in KINDS:
        raise FeedError(f"--kind 必须是 {'、'.join(KINDS)} 之一")
    if suffix == ".json":
        yield from _json_document(path, kind)
    elif suffix in (".ndjson", ".jsonl"):
        yield from _ndjson(path, _need(kind, path))
    elif suffix == ".csv":
        yield from _csv(path, _need(kind, path))
    elif suffix == ".xlsx":
        yield from _xlsx(path, kind)
    else:
        raise FeedError(
            f"不支持的文件类型 {suffix or '（无扩展名）'}：支持 .json .ndjson .csv .xlsx"
        )


def _need(kind: str | None, path: Path) -> str:
    if kind is None:
        raise FeedError(
            f"{path.name} 只能包含一种记录，请用 --kind 指定 advisors、customers 或 events"
        )
    return kind


def _json_document(path: Path, kind: str | None) -> Iterator[Row]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path.name} 不是有效的 JSON：{exc}") from None
    if isinstance(doc, list):
        doc = {_need(kind, path): doc}
    if not isinstance(doc, dict) or not any(k in doc for k in KINDS):
        raise FeedError(f"{path.name} 应为含 advisors、customers 或 events 的 JSON 对象")
    for name in KINDS:
        items = doc.get(name) or []
        if not isinstance(items, list):
            raise FeedError(f"{path.name} 中的 {name} 应为数组")
        for i, item in enumerate(items, start=1):
            yield _row(name, i, item)


def _row(kind: str, number: int, item: Any) -> Row:
    if isinstance(item, dict):
        return Row(kind, number, item)
    return Row(kind, number, None, "记录应为 JSON 对象")


def _ndjson(path: Path, kind: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield _row(kind, number, json.loads(line))
            except json.JSONDecodeError as exc:
                yield Row(kind, number, None, f"不是有效的 JSON：{exc.msg}")


def _csv(path: Path, kind: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for record in reader:
            yield Row(kind, reader.line_num, {k: v for k, v in record.items() if k})


def _xlsx(path: Path, kind: str | None) -> Iterator[Row]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise FeedError(f"{path.name} 不是有效的 xlsx：{exc}") from None
    try:
        named = [name for name in KINDS if name in book.sheetnames]
        if named:
            sheets = [(name, book[name]) for name in named]
        else:
            sheets = [(_need(kind, path), book.worksheets[0])]
        for name, sheet in sheets:
            rows = sheet.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            for number, values in enumerate(rows, start=2):
                if all(v is None or v == "" for v in values):
                    continue
                yield Row(name, number, {h: v for h, v in zip(header, values, strict=False) if h})
    finally:
        book.close()
