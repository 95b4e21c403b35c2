"""Nothing pushed through WeCom and no page carries a full phone, ID or bank-card number."""

from __future__ import annotations

import json
import re

import httpx
from sqlalchemy.engine import Engine

from bot.app import Runtime, create_app
from bot.clock import FakeClock
from bot.customers import sample
from bot.db import session_scope
from bot.outbox import service as outbox_service
from bot.wecom.sandbox import CallbackSender, Sandbox
from tests.customers.conftest import load_book

FULL_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
CARD_NUMBER = re.compile(r"(?<!\d)\d{16,19}(?!\d)")


def leaks(text: str) -> list[str]:
    return FULL_MOBILE.findall(text) + ID_NUMBER.findall(text) + CARD_NUMBER.findall(text)


async def test_a_generated_book_never_leaks_through_cards_replies_or_pages(
    engine: Engine, runtime: Runtime, sandbox: Sandbox, clock: FakeClock, wecom: CallbackSender
) -> None:
    book = sample.customers(60, advisor_ids=["wangfang", "lijun"], today=clock.now().date())
    for i, record in enumerate(book):
        record["tags"] = [f"证件{110101199003070000 + i}"[:18]]  # PII smuggled into free text
    events = [
        {
            "event_id": f"e{i}",
            "customer_no": c["customer_no"],
            "type": "withdrawal",
            "occurred_at": clock.now().isoformat(),
            "amount": 150000,
            "attrs": {"bank_card": "6222021234567890123", "id_no": "110101199003074578"},
        }
        for i, c in enumerate(book)
    ]
    load_book(engine, clock, book, events)
    replies: list[str] = []
    for record in book:
        advisor = record["advisor_userid"]
        sandbox.add_external_contact(
            f"wm{record['customer_no']}", name=record["name"], follow_user=[{"userid": advisor}]
        )
        await wecom.add_external_contact(
            advisor, f"wm{record['customer_no']}", state=record["customer_no"]
        )
        replies.append((await wecom.send_text(advisor, record["customer_no"])).reply or "")
        replies.append((await wecom.send_text(advisor, record["mobile"][-4:])).reply or "")
    with session_scope(engine) as s:  # a careless caller cannot push PII either
        outbox_service.enqueue(
            s,
            clock=clock,
            natural_key="careless",
            recipient="wangfang",
            msg_type="text",
            payload={
                "content": ("客户 13812341234 身份证 110101199003074578 卡 6222021234567890123")
            },
        )
    for _ in range(12):
        await runtime.run_until_idle()
        clock.advance(61)
    assert len(sandbox.delivered) >= 120 and sandbox.dropped == []
    pushed = [json.dumps(d.body, ensure_ascii=False) for d in sandbox.delivered]
    app = create_app(runtime, run_workers=False)
    pages = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as http:
        for record in book[:20]:
            runtime.settings.bot_sidebar_dev_login = True
            await http.get("/sidebar", params={"dev_user": record["advisor_userid"]})
            resp = await http.get(
                "/sidebar/api/card", params={"external_userid": f"wm{record['customer_no']}"}
            )
            assert resp.status_code == 200
            pages.append(resp.text)
    for text in pushed + replies + pages:
        assert leaks(text) == [], text
    names = {r["name"] for r in book}
    for text in pushed + pages:
        assert not any(f"客户 {n}" in text for n in names if len(n) > 1)
