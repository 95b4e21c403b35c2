"""Several dispatchers on PostgreSQL share the work: nothing twice, no budget overrun."""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.clock import FakeClock
from bot.db import create_db_engine, session_scope, upgrade
from bot.outbox import service as outbox_service
from bot.wecom import cards
from bot.wecom.sandbox import Sandbox
from tests.conftest import make_runtime


async def test_three_dispatchers_send_each_message_once_within_budget(
    pg_url: str, sandbox: Sandbox, clock: FakeClock
) -> None:
    advisors = [f"adv{i:02d}" for i in range(8)]
    for userid in advisors:
        sandbox.add_member(userid, userid)
    engines = [create_db_engine(pg_url) for _ in range(3)]
    upgrade(engines[0])
    runtimes = [await make_runtime(e, sandbox, clock) for e in engines]
    with session_scope(engines[0]) as s:
        for userid in advisors:
            for i in range(40):
                outbox_service.enqueue(
                    s,
                    clock=clock,
                    natural_key=f"{userid}-{i}",
                    recipient=userid,
                    msg_type="text",
                    payload=cards.text(f"{userid}#{i}"),
                )
    for rt in runtimes:
        rt.dispatcher.batch = 7  # small batches: many interleaved claims
    await asyncio.gather(*(rt.dispatcher.drain() for rt in runtimes))
    delivered = Counter(m.body["content"] for m in sandbox.delivered)
    assert sandbox.dropped == []
    assert max(delivered.values()) == 1  # nothing twice
    assert len(delivered) == 8 * 30  # each advisor got exactly their minute's budget
    clock.advance(61)
    await asyncio.gather(*(rt.dispatcher.drain() for rt in runtimes))
    delivered = Counter(m.body["content"] for m in sandbox.delivered)
    assert len(delivered) == 8 * 40 and max(delivered.values()) == 1
    for rt in runtimes:
        await rt.aclose()
    for e in engines:
        e.dispose()
