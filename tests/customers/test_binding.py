"""WeCom contacts become customers: QR-code State, remark mobile, or the advisor's pick."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app import Runtime
from bot.wecom.sandbox import CallbackSender, Sandbox


def bound(engine: Engine, customer_no: str) -> tuple[str | None, str]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT external_userid, advisor_userid FROM customer WHERE customer_no = :n"),
            {"n": customer_no},
        ).one()
    return row[0], row[1]


async def test_a_customer_scanning_the_qr_code_gives_the_advisor_exactly_one_masked_card(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    sandbox.add_external_contact(
        "wmZhang", name="张伟", follow_user=[{"userid": "wangfang", "state": "3100000000"}]
    )
    push = wecom.contact_event_xml(
        "add_external_contact", "wangfang", "wmZhang", State="3100000000", WelcomeCode="w1"
    )
    for _ in range(3):  # WeCom's retries
        assert (await wecom.post(push)).status_code == 200
    await runtime.run_until_idle()
    [message] = sandbox.inbox("wangfang")
    assert message.msgtype == "template_card"
    assert message.body["main_title"]["title"] == "客户 张*"
    text = str(message.body)
    assert "张伟" not in text and "13812341234" not in text and "138****1234" in text
    assert bound(engine, "3100000000") == ("wmZhang", "wangfang")


async def test_a_remark_mobile_binds_when_there_is_no_state(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    sandbox.add_external_contact(
        "wmWei",
        name="薇薇",
        follow_user=[{"userid": "wangfang", "remark_mobiles": ["139-1234-5678"]}],
    )
    await wecom.add_external_contact("wangfang", "wmWei")
    await runtime.run_until_idle()
    assert bound(engine, "3100000002")[0] == "wmWei"
    assert sandbox.inbox("wangfang")[0].body["main_title"]["title"] == "客户 张*"


async def test_an_unmatched_contact_is_bound_by_the_advisors_pick(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    sandbox.add_external_contact("wmNew", name="张伟伟", follow_user=[{"userid": "wangfang"}])
    await wecom.add_external_contact("wangfang", "wmNew")
    await runtime.run_until_idle()
    [question] = sandbox.inbox("wangfang")
    assert "未能自动匹配客户档案" in question.body["content"]
    assert "1. 张*　138****1234　客户号 3100000000" in question.body["content"]
    reply = (await wecom.send_text("wangfang", "绑定 1")).reply or ""
    assert reply.startswith("已将企业微信客户 张** 绑定到客户号 3100000000")
    await runtime.run_until_idle()
    assert bound(engine, "3100000000")[0] == "wmNew"
    assert sandbox.inbox("wangfang")[-1].msgtype == "template_card"


async def test_binding_only_to_ones_own_customers(
    wecom: CallbackSender, runtime: Runtime, sandbox: Sandbox, customers_book: Any
) -> None:
    sandbox.add_external_contact("wmX", name="某人", follow_user=[{"userid": "wangfang"}])
    await wecom.add_external_contact("wangfang", "wmX")
    await runtime.run_until_idle()
    reply = (await wecom.send_text("wangfang", "绑定 3100000001")).reply or ""  # 李军's
    assert reply.startswith("请回复「绑定 序号」")


async def test_deletions_are_recorded_as_churn_signals(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    sandbox.add_external_contact("wmZhang", name="张伟", follow_user=[{"userid": "wangfang"}])
    await wecom.add_external_contact("wangfang", "wmZhang", state="3100000000")
    await wecom.post(wecom.contact_event_xml("del_follow_user", "wangfang", "wmZhang"))
    await runtime.run_until_idle()
    with engine.connect() as conn:
        types = conn.execute(sa.text("SELECT type FROM customer_event")).scalars().all()
    assert types == ["wecom_deleted_by_customer"]


async def test_a_transfer_moves_ownership_to_the_receiving_advisor(
    wecom: CallbackSender,
    runtime: Runtime,
    sandbox: Sandbox,
    engine: Engine,
    customers_book: Any,
) -> None:
    sandbox.add_external_contact(
        "wmZhang", name="张伟", follow_user=[{"userid": "wangfang"}, {"userid": "lijun"}]
    )
    await wecom.add_external_contact("wangfang", "wmZhang", state="3100000000")
    await runtime.run_until_idle()
    await wecom.post(
        wecom.contact_event_xml(
            "del_external_contact", "wangfang", "wmZhang", Source="DELETE_BY_TRANSFER"
        )
    )
    wecom.sandbox.clock.advance(5)  # type: ignore[attr-defined]
    await wecom.add_external_contact("lijun", "wmZhang")
    await runtime.run_until_idle()
    assert bound(engine, "3100000000") == ("wmZhang", "lijun")
    assert sandbox.inbox("lijun")[0].body["main_title"]["title"] == "客户 张*"
    with engine.connect() as conn:
        history = conn.execute(
            sa.text("SELECT field, old_value, new_value, source FROM customer_history")
        ).all()
    assert [tuple(h) for h in history] == [("advisor_userid", "wangfang", "lijun", "wecom")]
