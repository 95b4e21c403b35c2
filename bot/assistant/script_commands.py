"""Chat commands about scripts: `话术` suggests compliance-approved scripts for a customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rapidfuzz import fuzz, process

from bot.assistant.commands import COMMANDS, CommandContext
from bot.customers import card
from bot.customers import service as customers
from bot.privacy import mask_name
from bot.scripts import service as scripts
from bot.scripts.context import audience_for
from bot.scripts.ranking import Audience
from bot.wecom import cards

CONTEXT_WINDOW = timedelta(hours=2)  # the card an advisor opened within this is "the customer"
# No customer in view: only what suits anyone (no products, no marketing, lowest level).
ANYONE = Audience(
    customer_no=None,
    investor_type="ordinary",
    risk_level="C1",
    assessment_valid_until=__import__("datetime").date.max,
    marketing_opt_out=True,
    tags=(),
    context={
        "customer": {
            "salutation": "您",
            "name": "",
            "risk_level": "",
            "risk_label": "",
            "risk_valid_until": "",
            "asset_range": "",
            "investor_type": "",
        },
        "advisor": {"name": ""},
    },
)


def top_script(
    session: Any,
    *,
    catalog: Any,
    clock: Any,
    tz: Any,
    customer: Any,
    advisor_userid: str,
    channel: str,
) -> str | None:
    """The best script for the customer's moment, logged as shown on `channel`; its title."""
    hint = card.build_view(session, clock=clock, customer=customer, tz=tz).mot_hint
    if hint is None:
        return None
    audience = audience_for(
        session, clock=clock, customer=customer, advisor_userid=advisor_userid, tz=tz
    )
    today = clock.now().astimezone(tz).date()
    ranked = catalog.suggest(audience=audience, today=today, mot=hint, k=1)
    if not ranked.suggestions:
        return None
    best = ranked.suggestions[0]
    scripts.log_delivery(
        session,
        clock=clock,
        row=best.row,
        advisor_userid=advisor_userid,
        customer_no=customer.customer_no,
        channel=channel,
        action="shown",
    )
    return str(best.title)


@COMMANDS.command(
    "话术",
    aliases=("推荐话术",),
    usage="话术 [客户号] <关键词>",
    summary="推荐合规话术（默认针对您最近查看的客户）",
)
def suggest_scripts(ctx: CommandContext) -> str:
    words = ctx.args.split()
    customer = None
    if words and words[0].isdigit():
        customer = customers.get_by_no(ctx.session, customer_no=words.pop(0))
        if customer is None:
            return "没有找到该客户号。"
    else:
        customer = customers.last_viewed(
            ctx.session, userid=ctx.advisor_userid, since=ctx.clock.now() - CONTEXT_WINDOW
        )
    if customer is not None:
        decision = customers.authorize_view(
            ctx.session,
            clock=ctx.clock,
            userid=ctx.advisor_userid,
            customer=customer,
            action="script_context",
            channel="chat",
        )
        if not decision.allowed:
            return f"{decision.reason}。"
        audience = audience_for(
            ctx.session,
            clock=ctx.clock,
            customer=customer,
            advisor_userid=ctx.advisor_userid,
            tz=ctx.tz,
        )
    else:
        audience = ANYONE
    text = " ".join(words)
    today = ctx.clock.now().astimezone(ctx.tz).date()
    ranked = ctx.catalog.suggest(audience=audience, today=today, text=text, k=3)
    who = f"客户 {mask_name(customer.name)} " if customer else "该客户"
    if not ranked.suggestions:
        if ranked.refused:
            reasons = list(dict.fromkeys(reason for _, reason in ranked.refused))[:3]
            return f"没有可向{who}推荐的话术：\n" + "\n".join(f"· {r}" for r in reasons)
        return f"没有找到与「{text[:20]}」相关的已批准话术。"
    heading = f"为{who}推荐话术：" if customer else "推荐话术（未指定客户，仅显示通用服务话术）："
    lines = [heading]
    for i, s in enumerate(ranked.suggestions, start=1):
        scripts.log_delivery(
            ctx.session,
            clock=ctx.clock,
            row=s.row,
            advisor_userid=ctx.advisor_userid,
            customer_no=customer.customer_no if customer else None,
            channel="chat",
            action="shown",
        )
        lines.append(f"\n{i}.【{s.title}】v{s.version} · 合规编号 {s.compliance_ref}")
        lines.append(s.text)
        lines.append(f"推荐理由：{'；'.join(s.why)}")
    return cards.clip_bytes("\n".join(lines), cards.TEXT_MAX_BYTES)


@COMMANDS.command(
    "问答",
    aliases=("常见问题", "FAQ"),
    usage="问答 <关键词>",
    summary="搜索合规审核过的常见问题解答",
)
def search_faq(ctx: CommandContext) -> str:
    query = "".join(ctx.args.split())
    if not query:
        return "请在「问答」后输入关键词，例如：问答 中签缴款"
    faq = ctx.checker.knowledge.faq
    texts = {i: "".join([e.question, *e.tags]) for i, e in enumerate(faq)}
    hits = process.extract(query, texts, scorer=fuzz.partial_ratio, limit=3, score_cutoff=50)
    if not hits:
        return f"没有找到与「{ctx.args[:20]}」相关的问答。"
    lines = []
    for _, _, i in hits:
        lines.append(f"问：{faq[i].question}\n答：{faq[i].answer}")
    return cards.clip_bytes("\n\n".join(lines), cards.TEXT_MAX_BYTES)
