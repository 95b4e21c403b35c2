"""A loaded customer book for the customer tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FakeClock
from bot.customers import sample
from bot.customers.feeds import Row
from bot.customers.ingest import ingest


def load_book(
    engine: Engine,
    clock: FakeClock,
    customers: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
) -> None:
    rows = [Row("advisors", i, a) for i, a in enumerate(sample.advisors(2), start=1)]
    rows += [Row("customers", i, c) for i, c in enumerate(customers, start=1)]
    rows += [Row("events", i, e) for i, e in enumerate(events or [], start=1)]
    report = ingest(engine, rows, clock=clock, source="feed")
    assert not report.rejections, report.rejections[:3]


@pytest.fixture
def customers_book(engine: Engine, clock: FakeClock) -> list[dict[str, Any]]:
    """40 customers, alternating between 王芳 (wangfang) and 李军 (lijun); 赵磊 leads both."""
    book = sample.customers(40, advisor_ids=["wangfang", "lijun"], today=clock.now().date())
    book[0].update(name="张伟", mobile="13812341234", gender="male")
    book[2].update(name="张薇", mobile="13912345678", gender="female")
    load_book(engine, clock, book)
    return book
