"""Chat search latency over a 10,000-customer book, against the bare RapidFuzz call.

Floor: `rapidfuzz.process.extract` over the same advisor's customer names (already in memory).
Measured: `bot.customers.service.search` (visible-book query, ranking, loading the matches).
The book belongs to two advisors under one lead; the lead searches the whole team's 10,000.
Run: `.venv/bin/python bench/search.py [N]`.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from _common import fresh_engine, percentile
from rapidfuzz import fuzz, process
from sqlmodel import Session, select

from bot.clock import SystemClock
from bot.customers import sample, service
from bot.customers.feeds import Row
from bot.customers.ingest import ingest
from bot.customers.models import Customer
from bot.db import read_only


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    engine = fresh_engine("search")
    records = sample.customers(n, advisor_ids=["wangfang", "lijun"], holdings=1)
    rows = [Row("advisors", i, a) for i, a in enumerate(sample.advisors(2), 1)]
    rows += [Row("customers", i, r) for i, r in enumerate(records, 1)]
    assert not ingest(engine, rows, clock=SystemClock(), source="feed").rejections
    rng = random.Random(3)
    queries = [rng.choice(records)["name"] for _ in range(200)]
    queries += [rng.choice(records)["name"][:1] for _ in range(50)]
    floor, measured = [], []
    with Session(read_only(engine)) as session:
        names = dict(session.exec(select(Customer.id, Customer.name)).all())
        for q in queries:
            t0 = time.perf_counter()
            process.extract(q, names, scorer=fuzz.WRatio, limit=5, score_cutoff=60)
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            service.search(session, userid="zhaolei", query=q)
            measured.append(time.perf_counter() - t0)
    ms = 1000
    print(f"book: {n:,} customers; {len(queries)} name queries by the team lead")
    print(
        f"floor (bare process.extract): p50 {statistics.median(floor) * ms:.2f} ms, "
        f"p99 {percentile(floor, 99) * ms:.2f} ms"
    )
    print(
        f"search (book query + ranking + load): p50 {statistics.median(measured) * ms:.2f} ms,"
        f" p99 {percentile(measured, 99) * ms:.2f} ms"
    )
    print(f"ratio (p50): {statistics.median(measured) / statistics.median(floor):.1f}x the floor")


if __name__ == "__main__":
    main()
