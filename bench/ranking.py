"""Ranking latency over a 10,000-script library, against the bare RapidFuzz call.

Floor: `rapidfuzz.process.extract` (the same `partial_ratio` scorer, limit and cutoff) over
the same index texts. Measured: `ScriptCatalog.suggest` end to end once the index is built
(the extract, then scoring, the suitability gate and rendering of the top 3 for a customer).
Prints p50/p99 of both and the ratio; aim: within 3x of the floor, p99 under 10 ms.
Run: `.venv/bin/python bench/ranking.py [N]`.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from _common import fresh_engine, percentile
from rapidfuzz import fuzz, process

from bot.clock import SystemClock
from bot.compliance.check import Checker
from bot.db import session_scope
from bot.knowledge.base import load_knowledge
from bot.scripts import ranking
from bot.scripts.library import SAMPLE_CONTEXT, read_library
from bot.scripts.models import ScriptVersion
from bot.scripts.ranking import Audience, ScriptCatalog

ROOT = Path(__file__).parents[1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    knowledge = load_knowledge(ROOT / "knowledge")
    Checker(knowledge)
    seeds, _ = read_library(ROOT / "scripts_library")
    engine = fresh_engine("ranking")
    clock = SystemClock()
    rng = random.Random(5)
    with session_scope(engine) as session:
        for i in range(n):
            r = seeds[i % len(seeds)].record
            body = r.body + f"（第{i}版，{rng.choice(['尊敬的客户', '您好', '温馨提示'])}）"
            session.add(
                ScriptVersion(
                    script_id=f"{r.id}-{i:05d}",
                    version=1,
                    title=r.title,
                    mot=r.mot,
                    stage=r.stage,
                    intent=r.intent,
                    segments=r.segments,
                    risk_levels=r.risk_levels,
                    investor_types=r.investor_types,
                    products=r.products,
                    body=body,
                    disclosures=r.disclosures,
                    status="approved",
                    author="a",
                    reviewer="b",
                    approved_on=date(2026, 10, 1),
                    valid_from=date(2026, 10, 1),
                    valid_until=date(2027, 10, 1),
                    compliance_ref=f"HG-{i}",
                    created_at=clock.now(),
                )
            )
    catalog = ScriptCatalog(engine, knowledge)
    today = date(2026, 11, 23)
    catalog.refresh(today)
    texts = catalog._texts
    audience = Audience(
        customer_no="3100000001",
        investor_type="ordinary",
        risk_level="C3",
        assessment_valid_until=today + timedelta(days=300),
        marketing_opt_out=False,
        tags=("高净值",),
        context=SAMPLE_CONTEXT,
    )
    queries = [
        "资金转出",
        "定投",
        "生日",
        "两融担保比例",
        "新股缴款",
        "理财到期",
        "测评过期",
        "节假日",
        "可转债强赎",
        "投诉回访",
    ] * 30
    floor, measured = [], []
    for q in queries:
        t0 = time.perf_counter()
        process.extract(
            q, texts, scorer=fuzz.partial_ratio, limit=ranking.CANDIDATES, score_cutoff=40
        )
        floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        catalog.suggest(audience=audience, today=today, text=q, k=3)
        measured.append(time.perf_counter() - t0)
    ms = 1000
    print(f"library: {n:,} approved scripts; {len(queries)} queries for a C3 customer")
    print(
        f"floor (bare process.extract, partial_ratio): p50 {statistics.median(floor) * ms:.2f}"
        f" ms, p99 {percentile(floor, 99) * ms:.2f} ms"
    )
    print(
        f"suggest (extract + score + gate + render top 3): p50 "
        f"{statistics.median(measured) * ms:.2f} ms, p99 {percentile(measured, 99) * ms:.2f} ms"
    )
    print(
        f"ratio: p50 {statistics.median(measured) / statistics.median(floor):.2f}x, "
        f"p99 {percentile(measured, 99) / percentile(floor, 99):.2f}x  "
        "(aim: within 3x, p99 under 10 ms)"
    )


if __name__ == "__main__":
    main()
