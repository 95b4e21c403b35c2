"""Chat commands about customers: search (also the fallback for any text) and binding."""

from __future__ import annotations

import hashlib

from bot.assistant.commands import COMMANDS, CommandContext
from bot.assistant.script_commands import top_script
from bot.customers import card, service
from bot.customers.models import Customer
from bot.privacy import mask_mobile, mask_name

SEARCH_HINT = "可输入客户姓名、手机尾号后 4 位或客户号；发送「帮助」查看全部指令。"


def _line(i: int, c: Customer) -> str:
    return f"{i}. {mask_name(c.name)}　{mask_mobile(c.mobile)}　客户号 {c.customer_no}"


def _key(ctx: CommandContext, purpose: str) -> str:
    digest = hashlib.sha1(f"{ctx.advisor_userid}|{ctx.args}|{ctx.clock.now()}".encode()).hexdigest()
    return f"{purpose}:{digest[:24]}"


def open_card(ctx: CommandContext, customer: Customer, *, channel: str = "chat") -> str:
    """Push `customer`'s card if the advisor may see it; every attempt is logged."""
    decision = service.authorize_view(
        ctx.session,
        clock=ctx.clock,
        userid=ctx.advisor_userid,
        customer=customer,
        action="card_view",
        channel=channel,
    )
    if not decision.allowed:
        return f"{decision.reason}。"
    title = top_script(
        ctx.session,
        catalog=ctx.catalog,
        clock=ctx.clock,
        tz=ctx.tz,
        customer=customer,
        advisor_userid=ctx.advisor_userid,
        channel="card",
    )
    card.push(
        ctx.session,
        clock=ctx.clock,
        customer=customer,
        advisor_userid=ctx.advisor_userid,
        reason="search",
        natural_key=_key(ctx, "card"),
        tz=ctx.tz,
        priority=1,
        script_title=title,
    )
    return f"已推送客户 {mask_name(customer.name)} 的客户卡片，请查看下一条消息。"


def find_customer(ctx: CommandContext) -> str:
    query = ctx.args
    if not query:
        return "请在「查」后输入客户姓名、手机尾号后 4 位或客户号。"
    found = service.search(ctx.session, userid=ctx.advisor_userid, query=query)
    service.log_access(
        ctx.session,
        clock=ctx.clock,
        actor=ctx.advisor_userid,
        action="search",
        channel="chat",
        query=query,
    )
    if not found:
        other = service.get_by_no(ctx.session, customer_no=query) if query.isdigit() else None
        if other is not None:  # someone else's customer: refuse, and say so in the log
            return open_card(ctx, other)
        return f"没有找到与「{query[:20]}」匹配的客户。{SEARCH_HINT}"
    if len(found) == 1:
        return open_card(ctx, found[0])
    lines = [f"找到 {len(found)} 位客户，请回复客户号查看："]
    lines += [_line(i, c) for i, c in enumerate(found, start=1)]
    return "\n".join(lines)


COMMANDS.command(
    "查",
    aliases=("查询", "客户"),
    usage="查 <姓名|手机尾号|客户号>",
    summary="查看名下客户的客户卡片",
)(find_customer)
COMMANDS.fallback = find_customer


@COMMANDS.command(
    "绑定", usage="绑定 <序号|客户号>", summary="把刚添加您的企业微信客户绑定到客户档案"
)
def bind_contact(ctx: CommandContext) -> str:
    pending = service.latest_pending(ctx.session, advisor_userid=ctx.advisor_userid)
    if pending is None:
        return "目前没有待绑定的企业微信客户。"
    choice = ctx.args.strip()
    customer_no = None
    if choice.isdigit() and 1 <= int(choice) <= len(pending.candidates):
        customer_no = pending.candidates[int(choice) - 1]
    elif choice:
        customer_no = choice
    customer = service.get_by_no(ctx.session, customer_no=customer_no) if customer_no else None
    if customer is None or customer.advisor_userid != ctx.advisor_userid:
        options = "\n".join(f"{i}. 客户号 {no}" for i, no in enumerate(pending.candidates, 1))
        return f"请回复「绑定 序号」或「绑定 客户号」（须为您名下的客户）：\n{options}".strip()
    service.bind(
        ctx.session, clock=ctx.clock, customer=customer, external_userid=pending.external_userid
    )
    pending.resolved_at = ctx.clock.now()
    ctx.session.add(pending)
    reply = open_card(ctx, customer)
    contact = mask_name(pending.contact_name)
    return f"已将企业微信客户 {contact} 绑定到客户号 {customer.customer_no}。{reply}"
