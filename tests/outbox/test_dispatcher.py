"""The outbox: budgets, priorities, retries, dead letters, and never sending twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.app import Runtime
from bot.clock import FakeClock
from bot.db import session_scope
from bot.outbox import service as outbox_service
from bot.outbox.budget import SendBudget
from bot.outbox.dispatcher import MAX_ATTEMPTS
from bot.outbox.models import OutboxMessage
from bot.wecom import cards
from bot.wecom.sandbox import Sandbox
from tests.conftest import app_settings, make_runtime


def queue(
    rt: Runtime,
    recipient: str,
    n: int,
    *,
    priority: int = 2,
    prefix: str = "m",
    msg_type: str = "text",
    payload: dict[str, Any] | None = None,
) -> None:
    with session_scope(rt.engine) as s:
        for i in range(n):
            outbox_service.enqueue(
                s,
                clock=rt.clock,
                natural_key=f"{prefix}-{recipient}-{i}",
                recipient=recipient,
                msg_type=msg_type,
                payload=payload or cards.text(f"{prefix} 第{i}条"),
                priority=priority,
            )


def rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


async def test_enqueue_is_idempotent_on_the_natural_key(runtime: Runtime, engine: Engine) -> None:
    queue(runtime, "wangfang", 1)
    queue(runtime, "wangfang", 1)
    assert len(rows(engine)) == 1


async def test_over_budget_messages_are_held_most_urgent_first_and_sent_later(
    runtime: Runtime, sandbox: Sandbox, clock: FakeClock, engine: Engine
) -> None:
    queue(runtime, "wangfang", 25, priority=3, prefix="campaign")
    queue(runtime, "wangfang", 10, priority=1, prefix="urgent")
    queue(runtime, "lijun", 5, priority=2, prefix="other")
    report = await runtime.dispatcher.drain()
    received = [m.body["content"] for m in sandbox.inbox("wangfang")]
    assert len(received) == 30  # WeCom's per-minute limit, never exceeded
    assert all(f"urgent 第{i}条" in received for i in range(10))
    assert report.held == 5 and report.sent == 35
    assert len(sandbox.inbox("lijun")) == 5  # one advisor's budget does not hold another's
    assert sandbox.dropped == []
    clock.advance(30)
    assert (await runtime.dispatcher.drain()).sent == 0  # still inside the minute
    clock.advance(31)
    await runtime.dispatcher.drain()
    assert len(sandbox.inbox("wangfang")) == 35
    assert sandbox.dropped == []
    assert {r.status for r in rows(engine)} == {"sent"}


async def test_hourly_budget_holds_until_the_hour_frees(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.per_minute, sandbox.per_hour = 3, 5
    rt = await make_runtime(engine, sandbox, clock, budget=SendBudget(per_minute=3, per_hour=5))
    queue(rt, "wangfang", 8)
    sent = []
    for _ in range(4):
        sent.append((await rt.dispatcher.drain()).sent)
        clock.advance(61)
    assert sent == [3, 2, 0, 0]
    clock.advance(3600 - 4 * 61)  # the first minute's three sends leave the sliding hour
    await rt.dispatcher.drain()
    assert len(sandbox.inbox("wangfang")) == 8
    assert sandbox.dropped == []  # the sandbox enforces the same 3/min and 5/h
    await rt.aclose()


async def test_sandbox_drops_what_a_budgetless_sender_would_fire(
    runtime: Runtime, sandbox: Sandbox
) -> None:
    for i in range(32):
        await runtime.client.send_message("zhaolei", "text", cards.text(f"{i}"))
    assert len(sandbox.inbox("zhaolei")) == 30 and len(sandbox.dropped) == 2


async def test_failed_sends_are_retried_with_backoff(
    runtime: Runtime, sandbox: Sandbox, clock: FakeClock, engine: Engine
) -> None:
    sandbox.inject("/message/send", 45009, times=4)  # outlasts the client's own retries once
    queue(runtime, "wangfang", 1)
    report = await runtime.dispatcher.drain()
    assert report.retried == 1 and report.sent == 0
    [row] = rows(engine)
    assert row.status == "pending" and row.last_errcode == 45009
    clock.advance(600)
    await runtime.dispatcher.drain()
    assert rows(engine)[0].status == "sent"
    assert len(sandbox.inbox("wangfang")) == 1


async def test_persistent_failure_is_dead_lettered_with_its_reason(
    runtime: Runtime, sandbox: Sandbox, clock: FakeClock, engine: Engine
) -> None:
    sandbox.inject("/message/send", -1, times=10_000)
    queue(runtime, "wangfang", 1)
    for _ in range(MAX_ATTEMPTS + 2):
        await runtime.dispatcher.drain()
        clock.advance(700)
    [row] = rows(engine)
    assert row.status == "dead"
    assert row.attempts == MAX_ATTEMPTS
    assert "errcode=-1" in (row.last_error or "")


async def test_invalid_recipient_is_dead_lettered_at_once(runtime: Runtime, engine: Engine) -> None:
    queue(runtime, "left-the-firm", 1)
    report = await runtime.dispatcher.drain()
    assert report.dead == 1
    assert "81013" in (rows(engine)[0].last_error or "")


async def test_invalid_secret_pauses_sending_and_keeps_every_message(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    rt = await make_runtime(engine, sandbox, clock, settings=app_settings(wecom_secret="wrong"))
    queue(rt, "wangfang", 3)
    await rt.dispatcher.drain()
    await rt.dispatcher.drain()
    assert sandbox.calls["/gettoken"] == 1  # stopped, no loop
    assert rt.dispatcher.pause_reason and "40001" in rt.dispatcher.pause_reason
    assert [r.status for r in rows(engine)] == ["pending"] * 3
    assert all(r.attempts == 0 for r in rows(engine))
    await rt.aclose()


async def test_a_card_whose_send_outcome_was_lost_is_not_sent_twice(
    runtime: Runtime, sandbox: Sandbox, clock: FakeClock, engine: Engine
) -> None:
    card = cards.button_card(
        task_id="mot-m46-1", title="大额资金转出提醒", buttons=[cards.Button("已联系", "k")]
    )
    queue(runtime, "wangfang", 1, msg_type="template_card", payload=card)
    # A dispatcher claims and sends, then dies before recording the outcome.
    [claimed], _ = runtime.dispatcher._claim()
    await runtime.dispatcher._send(claimed)
    clock.advance(121)  # its lease lapses; another dispatcher takes over
    report = await runtime.dispatcher.drain()
    assert report.sent == 1
    assert len(sandbox.inbox("wangfang")) == 1
    assert rows(engine)[0].status == "sent"


async def test_a_text_resent_after_a_lost_outcome_asks_wecom_to_drop_the_copy(
    runtime: Runtime, sandbox: Sandbox, clock: FakeClock
) -> None:
    queue(runtime, "wangfang", 1)
    [claimed], _ = runtime.dispatcher._claim()
    await runtime.dispatcher._send(claimed)
    clock.advance(121)
    await runtime.dispatcher.drain()
    assert len(sandbox.inbox("wangfang")) == 1
