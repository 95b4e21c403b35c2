"""Card render time for the heaviest customer: 200 holdings and 1,000 events.

Floor: a bare table scan of that customer's holdings and events (the rows the card reads).
Measured: building the masked view model and rendering all three forms (template card,
markdown, HTML). Prints p50/p99 of each and the ratio. Run: `.venv/bin/python bench/cards.py`.
"""

from __future__ import annotations

import statistics
import sys
import time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from _common import fresh_engine, percentile
from sqlmodel import Session

from bot.clock import SystemClock
from bot.customers import card, sample, service
from bot.customers.feeds import Row
from bot.customers.ingest import ingest
from bot.db import read_only


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    clock = SystemClock()
    engine = fresh_engine("cards")
    record = sample.customers(1, advisor_ids=["wangfang"], holdings=200, today=clock.now().date())[
        0
    ]
    events = sample.events([record["customer_no"]], 1000, now=clock.now())
    rows = [Row("advisors", i, a) for i, a in enumerate(sample.advisors(1), 1)]
    rows += [Row("customers", 1, record)] + [Row("events", i, e) for i, e in enumerate(events, 1)]
    assert not ingest(engine, rows, clock=clock, source="feed").rejections
    tz = ZoneInfo("Asia/Shanghai")
    scan, render = [], []
    with Session(read_only(engine)) as session:
        customer = service.get_by_no(session, customer_no=record["customer_no"])
        assert customer is not None
        for _ in range(rounds):
            t0 = time.perf_counter()
            with read_only(engine).connect() as conn:
                conn.execute(
                    sa.text("SELECT * FROM holding WHERE customer_id = :c"), {"c": customer.id}
                ).all()
                conn.execute(
                    sa.text("SELECT * FROM customer_event WHERE customer_id = :c"),
                    {"c": customer.id},
                ).all()
            scan.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            view = card.build_view(session, clock=clock, customer=customer, tz=tz)
            card.template_card(view, task_id="bench-1")
            card.markdown(view)
            card.html(view)
            render.append(time.perf_counter() - t0)
    ms = 1000
    print("customer with 200 holdings and 1,000 events")
    print(
        f"floor (bare scan of its holdings and events): p50 {statistics.median(scan) * ms:.2f} ms,"
        f" p99 {percentile(scan, 99) * ms:.2f} ms"
    )
    print(
        f"card (view model + template card + markdown + HTML): p50 "
        f"{statistics.median(render) * ms:.2f} ms, p99 {percentile(render, 99) * ms:.2f} ms"
    )
    print(
        f"ratio (card p50 / floor p50): {statistics.median(render) / statistics.median(scan):.1f}x"
    )


if __name__ == "__main__":
    main()
