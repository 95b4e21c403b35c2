"""Customer import rate on SQLite, against a floor measured in the same run.

Floor: the same customer and holding rows inserted with a bare SQLAlchemy Core executemany
(no validation, no hashing, no upsert logic). Measured: `bot.customers.ingest` from canonical
feed records (validation, hashing, look-ups, inserts), then a re-import of the same records
(everything unchanged). Run: `.venv/bin/python bench/ingest.py [N]` (default 100,000).
"""

from __future__ import annotations

import sys
import time

import sqlalchemy as sa
from _common import fresh_engine

from bot.clock import SystemClock
from bot.customers import sample
from bot.customers.feeds import Row
from bot.customers.ingest import ingest
from bot.customers.models import Customer, Holding


def floor(records: list[dict], advisors: list[dict]) -> float:  # type: ignore[type-arg]
    engine = fresh_engine("ingest-floor")
    now = SystemClock().now()
    customers = [
        {k: v for k, v in r.items() if k not in ("holdings", "margin")}
        | {
            "content_hash": "x",
            "updated_at": now,
            "external_userid": None,
            "birthday": None,
            "opened_on": now.date(),
            "risk_assessed_on": now.date(),
            "risk_expires_on": None,
        }
        for r in records
    ]
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(
                sa.table(
                    "advisor",
                    *[
                        sa.column(c)
                        for c in (
                            "userid",
                            "name",
                            "branch",
                            "role",
                            "lead_userid",
                            "content_hash",
                            "updated_at",
                        )
                    ],
                )
            ),
            [a | {"content_hash": "x", "updated_at": now} for a in advisors],
        )
        conn.execute(sa.insert(Customer.__table__), customers)  # type: ignore[attr-defined]
        ids = dict(conn.execute(sa.text("SELECT customer_no, id FROM customer")).all())
        conn.execute(
            sa.insert(Holding.__table__),
            [  # type: ignore[attr-defined]
                {
                    "customer_id": ids[r["customer_no"]],
                    **{k: v for k, v in h.items() if k != "maturity_date"},
                }
                for r in records
                for h in r["holdings"]
            ],
        )
    return len(records) / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    advisors = sample.advisors(4)
    ids = [a["userid"] for a in advisors if a["role"] == "advisor"]
    records = sample.customers(n, advisor_ids=ids)
    holdings = sum(len(r["holdings"]) for r in records)
    floor_rate = floor(records, advisors)
    engine = fresh_engine("ingest")
    rows = [Row("advisors", i, a) for i, a in enumerate(advisors, 1)]
    rows += [Row("customers", i, r) for i, r in enumerate(records, 1)]
    start = time.perf_counter()
    report = ingest(engine, rows, clock=SystemClock(), source="feed")
    first = time.perf_counter() - start
    assert not report.rejections
    start = time.perf_counter()
    again = ingest(engine, rows, clock=SystemClock(), source="feed")
    second = time.perf_counter() - start
    assert again.of("customers").unchanged == n
    print(f"customers: {n:,} with {holdings:,} holdings (SQLite, WAL)")
    print(f"floor (bare Core executemany insert): {floor_rate:,.0f} customers/s")
    print(
        f"ingest, first import:  {n / first:,.0f} customers/s, {first:.1f} s in all "
        f"(ratio {n / first / floor_rate:.2f})"
    )
    print(f"ingest, re-import (all unchanged): {n / second:,.0f} customers/s, {second:.1f} s")


if __name__ == "__main__":
    main()
