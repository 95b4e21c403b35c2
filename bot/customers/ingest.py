"""Idempotent upserts of feed records into the customer book, in bulk.

Each kind is upserted on its key (advisor `userid`, customer `customer_no`, event `event_id`).
A customer whose record hashes the same as the stored one is left alone, so re-sending a
file changes nothing; a changed customer gets its holdings replaced and one history row per
service-relevant field that changed. Bad rows are rejected with their row number, field and
reason while the good rows land. Work is committed in chunks, with progress reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from bot.clock import Clock
from bot.customers.feeds import Row
from bot.customers.models import Advisor, Customer, CustomerEvent, CustomerHistory, Holding
from bot.customers.records import (
    AdvisorRecord,
    CustomerRecord,
    EventRecord,
    problems,
)

CHUNK = 2000
# The fields whose changes are kept as history (COMPLIANCE.md: suitability records).
TRACKED = (
    "risk_level",
    "risk_assessed_on",
    "risk_expires_on",
    "advisor_userid",
    "asset_tier",
    "total_assets",
    "tags",
)

_ADVISOR: sa.Table = Advisor.__table__  # type: ignore[attr-defined]
_CUSTOMER: sa.Table = Customer.__table__  # type: ignore[attr-defined]
_HOLDING: sa.Table = Holding.__table__  # type: ignore[attr-defined]
_EVENT: sa.Table = CustomerEvent.__table__  # type: ignore[attr-defined]
_HISTORY: sa.Table = CustomerHistory.__table__  # type: ignore[attr-defined]

KIND_LABEL = {"advisors": "顾问", "customers": "客户", "events": "事件"}


@dataclass(frozen=True)
class Rejection:
    kind: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{KIND_LABEL[self.kind]}记录 第 {self.row} 行 {self.field}：{self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "row": self.row, "field": self.field, "reason": self.reason}


@dataclass
class KindCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class IngestReport:
    counts: dict[str, KindCounts] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)

    def of(self, kind: str) -> KindCounts:
        return self.counts.setdefault(kind, KindCounts())

    @property
    def accepted(self) -> int:
        return sum(c.inserted + c.updated + c.unchanged for c in self.counts.values())

    def summary(self) -> str:
        parts = [
            f"{KIND_LABEL[k]}：新增 {c.inserted}，更新 {c.updated}，未变 {c.unchanged}"
            for k, c in self.counts.items()
        ]
        parts.append(f"拒绝 {len(self.rejections)} 行")
        return "；".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {k: vars(c) for k, c in self.counts.items()},
            "rejected": [r.as_dict() for r in self.rejections],
        }


Progress = Callable[[str, int], None]


def _hash(record: Any) -> str:
    payload = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _validate(rows: list[Row], model: type[Any], report: IngestReport) -> list[tuple[Row, Any]]:
    valid = []
    for row in rows:
        if row.data is None:
            report.rejections.append(Rejection(row.kind, row.number, "记录", row.problem or ""))
            continue
        try:
            valid.append((row, model.model_validate(row.data)))
        except ValidationError as exc:
            for fld, reason in problems(exc):
                report.rejections.append(Rejection(row.kind, row.number, fld, reason))
    return valid


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class Ingestor:
    """Upserts rows of all three kinds; one instance per import."""

    def __init__(
        self, engine: Engine, *, clock: Clock, source: str, progress: Progress | None = None
    ):
        self.engine = engine
        self.clock = clock
        self.source = source
        self.progress = progress
        self.report = IngestReport()
        self._advisor_ids: set[str] | None = None

    def run(self, rows: Iterable[Row]) -> IngestReport:
        done: dict[str, int] = {}
        for batch in _chunks(rows, CHUNK):
            by_kind: dict[str, list[Row]] = {}
            for row in batch:
                by_kind.setdefault(row.kind, []).append(row)
            for kind, upsert in (
                ("advisors", self._advisors),
                ("customers", self._customers),
                ("events", self._events),
            ):
                if kind in by_kind:
                    with self.engine.begin() as conn:
                        upsert(conn, by_kind[kind])
                    done[kind] = done.get(kind, 0) + len(by_kind[kind])
                    if self.progress:
                        self.progress(kind, done[kind])
        order = {"advisors": 0, "customers": 1, "events": 2}
        self.report.rejections.sort(key=lambda r: (order[r.kind], r.row))  # file order
        return self.report

    # -- advisors ----------------------------------------------------------------------
    def _known_advisors(self, conn: Connection) -> set[str]:
        if self._advisor_ids is None:
            self._advisor_ids = set(conn.execute(sa.select(_ADVISOR.c.userid)).scalars())
        return self._advisor_ids

    def _advisors(self, conn: Connection, rows: list[Row]) -> None:
        counts = self.report.of("advisors")
        valid = _validate(rows, AdvisorRecord, self.report)
        known = self._known_advisors(conn) | {rec.userid for _, rec in valid}
        now = self.clock.now()
        existing = {
            r.userid: r.content_hash
            for r in conn.execute(
                sa.select(_ADVISOR.c.userid, _ADVISOR.c.content_hash).where(
                    _ADVISOR.c.userid.in_([rec.userid for _, rec in valid])
                )
            )
        }
        inserts, updates = [], []
        for row, rec in valid:
            if rec.lead_userid and rec.lead_userid not in known:
                self.report.rejections.append(
                    Rejection(
                        row.kind, row.number, "lead_userid", f"直属主管 {rec.lead_userid!r} 不存在"
                    )
                )
                continue
            values = {**rec.model_dump(), "content_hash": _hash(rec), "updated_at": now}
            if rec.userid not in existing:
                inserts.append(values)
                existing[rec.userid] = values["content_hash"]
            elif existing[rec.userid] != values["content_hash"]:
                updates.append({**values, "key": rec.userid})
                existing[rec.userid] = values["content_hash"]
            else:
                counts.unchanged += 1
        if inserts:
            conn.execute(sa.insert(_ADVISOR), inserts)
        if updates:
            conn.execute(
                sa.update(_ADVISOR)
                .where(_ADVISOR.c.userid == sa.bindparam("key"))
                .values(
                    {
                        c: sa.bindparam(c)
                        for c in (
                            "name",
                            "branch",
                            "role",
                            "lead_userid",
                            "content_hash",
                            "updated_at",
                        )
                    }
                ),
                updates,
            )
        counts.inserted += len(inserts)
        counts.updated += len(updates)
        self._known_advisors(conn).update(v["userid"] for v in inserts)

    # -- customers ---------------------------------------------------------------------
    def _customers(self, conn: Connection, rows: list[Row]) -> None:
        counts = self.report.of("customers")
        advisors = self._known_advisors(conn)
        latest: dict[str, tuple[Row, CustomerRecord]] = {}
        for row, rec in _validate(rows, CustomerRecord, self.report):
            if rec.advisor_userid not in advisors:
                self.report.rejections.append(
                    Rejection(
                        row.kind,
                        row.number,
                        "advisor_userid",
                        f"顾问 {rec.advisor_userid!r} 不存在",
                    )
                )
                continue
            latest[rec.customer_no] = (row, rec)  # a later row for the same customer wins
        if not latest:
            return
        cols = [
            _CUSTOMER.c.id,
            _CUSTOMER.c.customer_no,
            _CUSTOMER.c.content_hash,
            _CUSTOMER.c.external_userid,
            *(_CUSTOMER.c[f] for f in TRACKED),
        ]
        existing = {
            r.customer_no: r
            for r in conn.execute(sa.select(*cols).where(_CUSTOMER.c.customer_no.in_(list(latest))))
        }
        claimed = {
            r.external_userid: r.customer_no
            for r in conn.execute(
                sa.select(_CUSTOMER.c.external_userid, _CUSTOMER.c.customer_no).where(
                    _CUSTOMER.c.external_userid.in_(
                        [rec.external_userid for _, rec in latest.values() if rec.external_userid]
                    )
                )
            )
        }
        now = self.clock.now()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        holdings_for: dict[str, list[Any]] = {}
        history: list[dict[str, Any]] = []
        for customer_no, (row, rec) in latest.items():
            ext = rec.external_userid
            if ext and claimed.get(ext, customer_no) != customer_no:
                self.report.rejections.append(
                    Rejection(
                        row.kind,
                        row.number,
                        "external_userid",
                        f"已绑定到客户 {claimed[ext]}，不能重复绑定",
                    )
                )
                continue
            digest = _hash(rec)
            values = rec.model_dump(exclude={"holdings", "margin", "external_userid"})
            values.update(
                content_hash=digest,
                updated_at=now,
                margin_ratio=rec.margin.maintenance_ratio if rec.margin else None,
            )
            if ext:
                values["external_userid"] = ext  # never clear a binding made through WeCom
                claimed[ext] = customer_no
            old = existing.get(customer_no)
            if old is None:
                values.setdefault("external_userid", None)
                inserts.append(values)
            elif old.content_hash == digest:
                counts.unchanged += 1
                continue
            else:
                values["external_userid"] = ext or old.external_userid
                updates.append({**values, "key": old.id})
                for name in TRACKED:
                    before, after = _stringify(getattr(old, name)), _stringify(values[name])
                    if before != after:
                        history.append(
                            {
                                "customer_id": old.id,
                                "field": name,
                                "old_value": before,
                                "new_value": after,
                                "source": self.source,
                                "changed_at": now,
                            }
                        )
            holdings_for[customer_no] = list(rec.holdings)
        if inserts:
            ids = conn.execute(
                sa.insert(_CUSTOMER).returning(
                    _CUSTOMER.c.id, _CUSTOMER.c.customer_no, sort_by_parameter_order=True
                ),
                inserts,
            ).all()
            new_ids = {r.customer_no: r.id for r in ids}
        else:
            new_ids = {}
        if updates:
            settable = [c for c in updates[0] if c != "key"]
            conn.execute(
                sa.update(_CUSTOMER)
                .where(_CUSTOMER.c.id == sa.bindparam("key"))
                .values({c: sa.bindparam(c) for c in settable}),
                updates,
            )
            conn.execute(
                sa.delete(_HOLDING).where(_HOLDING.c.customer_id.in_([u["key"] for u in updates]))
            )
        if history:
            conn.execute(sa.insert(_HISTORY), history)
        ids_by_no = {**{no: r.id for no, r in existing.items()}, **new_ids}
        holding_rows = [
            {"customer_id": ids_by_no[no], **h.model_dump()}
            for no, holdings in holdings_for.items()
            for h in holdings
        ]
        if holding_rows:
            conn.execute(sa.insert(_HOLDING), holding_rows)
        counts.inserted += len(inserts)
        counts.updated += len(updates)

    # -- events ------------------------------------------------------------------------
    def _events(self, conn: Connection, rows: list[Row]) -> None:
        counts = self.report.of("events")
        valid = _validate(rows, EventRecord, self.report)
        customers = dict(
            conn.execute(
                sa.select(_CUSTOMER.c.customer_no, _CUSTOMER.c.id).where(
                    _CUSTOMER.c.customer_no.in_({rec.customer_no for _, rec in valid})
                )
            ).all()
        )
        seen = set(
            conn.execute(
                sa.select(_EVENT.c.event_id).where(
                    _EVENT.c.event_id.in_([rec.event_id for _, rec in valid])
                )
            ).scalars()
        )
        inserts = []
        for row, rec in valid:
            if rec.customer_no not in customers:
                self.report.rejections.append(
                    Rejection(
                        row.kind, row.number, "customer_no", f"客户 {rec.customer_no!r} 不存在"
                    )
                )
                continue
            if rec.event_id in seen:
                counts.unchanged += 1
                continue
            seen.add(rec.event_id)
            inserts.append(
                {
                    "event_id": rec.event_id,
                    "customer_id": customers[rec.customer_no],
                    "type": rec.type,
                    "occurred_at": rec.occurred_at,
                    "amount": rec.amount,
                    "attrs": rec.attrs,
                }
            )
        if inserts:
            conn.execute(sa.insert(_EVENT), inserts)
        counts.inserted += len(inserts)


def ingest(
    engine: Engine,
    rows: Iterable[Row],
    *,
    clock: Clock,
    source: str,
    progress: Progress | None = None,
) -> IngestReport:
    """Upsert `rows` (advisors before customers before events within each chunk)."""
    return Ingestor(engine, clock=clock, source=source, progress=progress).run(rows)
