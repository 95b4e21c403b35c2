"""The library in Excel, the format compliance teams work in: one row per script version.

Lists are written `a|b|c`. Export writes every version; importing that file back changes
nothing. Import loads rows as the four-eyes rule allows: an existing version is left alone
when identical, updated only while it is a draft or rejected, refused when it is approved,
submitted or retired and differs; a new row becomes a draft, or, if it says submitted or
approved, a submitted version awaiting review (never approved by import). Problems are
`file:row: reason`; the good rows land.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font
from pydantic import ValidationError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge
from bot.knowledge.yamlfile import Problem
from bot.scripts import service
from bot.scripts.library import CONTENT_KEYS, ScriptRecord, lint_record
from bot.scripts.models import ScriptVersion

COLUMNS = (
    "id",
    "version",
    "status",
    *CONTENT_KEYS,
    "author",
    "reviewer",
    "approved_on",
    "compliance_ref",
)
LISTS = {"mot", "segments", "risk_levels", "investor_types", "products", "disclosures"}


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "|".join(value)
    return value


def export(session: Session, path: Path) -> int:
    """Write every version to `path`; returns the number of rows."""
    book = Workbook()
    sheet = book.active
    sheet.title = "scripts"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    rows = session.exec(
        select(ScriptVersion).order_by(col(ScriptVersion.script_id), col(ScriptVersion.version))
    ).all()
    for row in rows:
        values = {c: getattr(row, c if c != "id" else "script_id") for c in COLUMNS}
        sheet.append([_cell(values[c]) for c in COLUMNS])
    for cell in sheet["L"]:
        cell.alignment = Alignment(wrap_text=True)
    sheet.column_dimensions["L"].width = 80
    book.save(path)
    return len(rows)


def _record(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in COLUMNS or value is None or value == "":
            continue
        if key in LISTS:
            out[key] = [v.strip() for v in str(value).split("|") if v.strip()]
        elif isinstance(value, datetime):
            out[key] = value.date()
        elif isinstance(value, date):
            out[key] = value
        else:
            out[key] = str(value) if key not in ("version",) else int(value)
    return out


def import_file(
    session: Session,
    path: Path,
    *,
    clock: Clock,
    knowledge: Knowledge,
    checker: Checker,
    actor: str,
) -> tuple[dict[str, int], list[Problem]]:
    book = load_workbook(path, read_only=True, data_only=True)
    sheet = book["scripts"] if "scripts" in book.sheetnames else book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h else "" for h in next(rows, ())]
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    problems: list[Problem] = []
    for number, values in enumerate(rows, start=2):
        if all(v in (None, "") for v in values):
            continue
        data = _record(dict(zip(header, values, strict=False)))
        try:
            record = ScriptRecord.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "记录"
                reason = (
                    "缺少必填字段"
                    if err["type"] == "missing"
                    else err["msg"].removeprefix("Value error, ")
                )
                problems.append(Problem(str(path), number, f"{field}: {reason}"))
            continue
        existing = service.get(session, script_id=record.id, version=record.version)
        reasons = [] if existing is not None else lint_record(record, knowledge, checker)
        if reasons:
            problems += [Problem(str(path), number, f"{record.id}: {r}") for r in reasons]
            continue
        try:
            with session.begin_nested():
                if existing is None:
                    counts["inserted"] += 1
                    _create(session, clock, record, knowledge, checker, actor)
                else:
                    counts[
                        service.upsert_record(
                            session, clock=clock, record=record, action="import", actor=actor
                        )
                    ] += 1
        except service.ScriptError as exc:
            problems.append(Problem(str(path), number, str(exc)))
    book.close()
    return counts, problems


def _create(
    session: Session,
    clock: Clock,
    record: ScriptRecord,
    knowledge: Knowledge,
    checker: Checker,
    actor: str,
) -> None:
    draft = record.model_copy(
        update={"status": "draft", "reviewer": None, "approved_on": None, "compliance_ref": None}
    )
    service.upsert_record(session, clock=clock, record=draft, action="import", actor=actor)
    if record.status in ("submitted", "approved"):
        row = service.get_or_raise(session, script_id=record.id, version=record.version)
        service.submit(
            session, clock=clock, row=row, actor=actor, knowledge=knowledge, checker=checker
        )
