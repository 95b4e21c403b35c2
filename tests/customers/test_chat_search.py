"""Advisors find their own customers in chat; nobody else's; every look is logged."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app import Runtime
from bot.wecom.sandbox import CallbackSender, Sandbox


def access_log(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT actor_userid, action, customer_no, allowed FROM access_log ORDER BY id"
                )
            )
        ]


async def test_a_name_finds_the_customer_and_pushes_one_masked_card(
    wecom: CallbackSender, runtime: Runtime, sandbox: Sandbox, customers_book: Any
) -> None:
    result = await wecom.send_text("wangfang", "张伟")
    assert result.reply == "已推送客户 张* 的客户卡片，请查看下一条消息。"
    await runtime.run_until_idle()
    [message] = sandbox.inbox("wangfang")
    assert message.msgtype == "template_card"
    assert message.body["main_title"]["title"] == "客户 张*"
    assert "138****1234" in str(message.body)


async def test_phone_tail_and_customer_number_find_customers(
    wecom: CallbackSender, customers_book: Any
) -> None:
    assert "张*" in ((await wecom.send_text("wangfang", "1234")).reply or "")
    assert "已推送客户" in ((await wecom.send_text("wangfang", "查 3100000004")).reply or "")


async def test_an_ambiguous_name_lists_the_closest_matches(
    wecom: CallbackSender, customers_book: Any
) -> None:
    reply = (await wecom.send_text("wangfang", "查 张")).reply or ""
    assert reply.startswith("找到 ")
    assert "张*　138****1234　客户号 3100000000" in reply
    assert "张*　139****5678　客户号 3100000002" in reply


async def test_another_advisors_customer_is_refused_and_logged(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    reply = (await wecom.send_text("wangfang", "3100000001")).reply  # 李军's customer
    assert reply == "该客户不在您的服务名单中，无法查看。"
    await runtime.run_until_idle()
    assert sandbox.inbox("wangfang") == []
    assert ("wangfang", "card_view", "3100000001", False) in access_log(engine)
    by_name = (await wecom.send_text("wangfang", customers_book[1]["name"])).reply or ""
    assert "3100000001" not in by_name  # a name search never reveals another advisor's customer


async def test_a_team_lead_sees_the_teams_customers(
    wecom: CallbackSender, engine: Engine, customers_book: Any
) -> None:
    assert "已推送" in ((await wecom.send_text("zhaolei", "3100000001")).reply or "")
    assert "已推送" in ((await wecom.send_text("zhaolei", "3100000002")).reply or "")
    assert ("zhaolei", "card_view", "3100000001", True) in access_log(engine)


async def test_every_search_is_logged(
    wecom: CallbackSender, engine: Engine, customers_book: Any
) -> None:
    await wecom.send_text("wangfang", "今天行情怎么样")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor_userid, query FROM access_log")).all()
    assert [tuple(r) for r in rows] == [("wangfang", "今天行情怎么样")]
