"""The customer card: one view model, rendered as a WeCom template card, a markdown fallback
and an HTML card for the sidebar.

Everything here is what an advisor may see in WeCom: the name is masked (`张*`), the mobile is
masked (`138****1234`), balances are ranges. Holdings show profit and loss in percent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session

from bot.clock import Clock
from bot.customers import service
from bot.customers.models import Customer, CustomerCard, CustomerEvent, Holding
from bot.followup import outcomes
from bot.followup import service as followup_service
from bot.privacy import asset_range, mask_mobile, mask_name, mask_sensitive
from bot.wecom import cards

RISK_LABELS = {"C1": "保守型", "C2": "谨慎型", "C3": "稳健型", "C4": "积极型", "C5": "激进型"}
KIND_LABELS = {
    "stock": "股票",
    "fund": "基金",
    "bond": "债券",
    "cb": "可转债",
    "wealth": "理财",
    "option": "期权",
}
EVENT_LABELS = {
    "deposit": "入金",
    "withdrawal": "资金转出",
    "trade": "交易",
    "transfer_failed": "银证转账失败",
    "ipo_allotted": "新股中签",
    "ipo_payment_due": "中签待缴款",
    "product_risk_raised": "产品风险等级上调",
    "complaint": "投诉",
    "custody_transfer": "转托管申请",
    "wecom_deleted_by_customer": "客户删除了企业微信好友",
    "wecom_deleted_by_advisor": "顾问删除了企业微信好友",
}
NOISE_EVENTS = frozenset({"login", "search"})
RISK_VALIDITY = timedelta(days=730)  # when the feed gives no expiry: the common two years
MARGIN_WARNING = Decimal("1.5")
MARGIN_CALL = Decimal("1.3")
TOP_HOLDINGS = 5
EVENT_WINDOW = timedelta(days=7)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class HoldingLine:
    name: str
    kind: str
    weight_pct: float
    pnl_pct: float | None
    alarm: str | None


@dataclass(frozen=True)
class EventLine:
    when: str
    label: str
    amount_range: str | None


@dataclass(frozen=True)
class CustomerView:
    customer_no: str
    name: str  # masked
    salutation: str
    mobile: str  # masked
    investor_type: str
    risk_level: str
    risk_label: str
    risk_valid_until: date
    risk_expired: bool
    risk_expiring: bool
    asset_tier: str | None
    asset_range: str
    margin_alarm: str | None
    holdings: list[HoldingLine]
    holdings_more: int
    events: list[EventLine]
    reminders: list[str]
    last_follow_up: str | None
    next_action: str
    mot_hint: str | None
    tags: list[str] = field(default_factory=list)


def _pnl(h: Holding) -> float | None:
    return float((h.market_value - h.cost) / h.cost * 100) if h.cost else None


def _alarm(h: Holding, today: date) -> str | None:
    change = float(h.day_change_pct) if h.day_change_pct is not None else 0.0
    if h.kind in ("stock", "cb") and change <= -9.8:
        return "跌停"
    if h.kind in ("stock", "cb") and change <= -7:
        return f"大跌 {change:.1f}%"
    if h.maturity_date and today <= h.maturity_date <= today + timedelta(days=7):
        return f"{h.maturity_date:%m-%d} 到期"
    pnl = _pnl(h)
    if pnl is not None and pnl <= -20:
        return f"浮亏 {abs(pnl):.0f}%"
    return None


def _severity(alarm: str | None) -> int:
    """Lower is more urgent: a limit-down first, a maturing product last."""
    for rank, prefix in enumerate(("跌停", "大跌", "浮亏")):
        if (alarm or "").startswith(prefix):
            return rank
    return 3


def _event_line(e: CustomerEvent, tz: Any) -> EventLine:
    local = e.occurred_at.astimezone(tz)
    amount = asset_range(abs(e.amount)) if e.amount is not None else None
    return EventLine(f"{local:%m-%d %H:%M}", EVENT_LABELS.get(e.type, e.type), amount)


# The MOT strategy behind each next action, to pick the scripts that fit the moment.
ACTION_MOT = {
    "风险测评已过期": "M42",
    "两融维持担保比例偏低": "M35",
    "近期有资金转出": "M46",
    "新股中签": "M10",
    "银证转账失败": "M08",
    "持仓股大幅下跌": "M24",
    "产品即将到期": "M18",
    "风险测评 30 天内到期": "M41",
}


def _next_action(view: dict[str, Any]) -> str:
    """The most urgent thing to do, by the rules compliance and service agreed on."""
    if view["risk_expired"]:
        return "风险测评已过期：请先邀请客户重新测评，期间不推荐任何产品"
    if view["margin_alarm"]:
        return "两融维持担保比例偏低：请今日联系客户，提示补仓或减仓风险"
    labels = {e.label for e in view["events"]}
    if "资金转出" in labels:
        return "近期有资金转出：建议电话关怀，了解资金安排"
    if "中签待缴款" in labels or "新股中签" in labels:
        return "新股中签：提醒客户 T+2 日 16:00 前足额缴款"
    if "银证转账失败" in labels:
        return "银证转账失败：协助客户核对银行卡状态与余额"
    if any(h.alarm == "跌停" or (h.alarm or "").startswith("大跌") for h in view["holdings"]):
        return "持仓股大幅下跌：建议陪伴沟通，不做涨跌判断"
    if any((h.alarm or "").endswith("到期") for h in view["holdings"]):
        return "产品即将到期：提醒客户到期资金安排"
    if view["risk_expiring"]:
        return "风险测评 30 天内到期：提醒客户及时重新测评"
    return "例行关怀：了解客户近况与需求"


def build_view(session: Session, *, clock: Clock, customer: Customer, tz: Any) -> CustomerView:
    """Everything the card shows, already masked."""
    today = clock.now().astimezone(tz).date()
    valid_until = customer.risk_expires_on or (customer.risk_assessed_on + RISK_VALIDITY)
    holdings = sorted(
        service.holdings_of(session, customer=customer), key=lambda h: h.market_value, reverse=True
    )
    total_mv = sum((h.market_value for h in holdings), Decimal(0)) or Decimal(1)
    lines = [
        HoldingLine(
            h.name,
            KIND_LABELS.get(h.kind, h.kind),
            float(h.market_value / total_mv * 100),
            _pnl(h),
            _alarm(h, today),
        )
        for h in holdings
    ]
    alarmed = sorted((h for h in lines if h.alarm), key=lambda h: _severity(h.alarm))
    shown = (alarmed + [h for h in lines if not h.alarm])[:TOP_HOLDINGS]
    ratio = customer.margin_ratio
    margin_alarm = None
    if ratio is not None and ratio < MARGIN_WARNING:
        line = "追保线 130%" if ratio < MARGIN_CALL else "警戒线 150%"
        margin_alarm = f"维持担保比例 {float(ratio) * 100:.0f}%，低于{line}"
    events = [
        _event_line(e, tz)
        for e in service.events_since(session, customer=customer, since=clock.now() - EVENT_WINDOW)
        if e.type not in NOISE_EVENTS
    ]
    follow = followup_service.last_for_customer(session, customer_no=customer.customer_no)
    last = None
    if follow is not None:
        label = (
            outcomes.OUTCOMES[follow.outcome].label
            if follow.outcome in outcomes.OUTCOMES
            else follow.outcome
        )
        last = f"{follow.recorded_at.astimezone(tz):%m-%d %H:%M} {label}"
    salutation = customer.name[:1] + {"male": "先生", "female": "女士"}.get(
        customer.gender or "", ""
    )
    parts: dict[str, Any] = dict(
        customer_no=customer.customer_no,
        name=mask_name(customer.name),
        salutation=salutation
        if customer.gender in ("male", "female")
        else mask_name(customer.name),
        mobile=mask_mobile(customer.mobile),
        investor_type="专业投资者" if customer.investor_type == "professional" else "普通投资者",
        risk_level=customer.risk_level,
        risk_label=RISK_LABELS.get(customer.risk_level, ""),
        risk_valid_until=valid_until,
        risk_expired=valid_until < today,
        risk_expiring=today <= valid_until <= today + timedelta(days=30),
        asset_tier=customer.asset_tier,
        asset_range=asset_range(customer.total_assets),
        margin_alarm=margin_alarm,
        holdings=shown,
        holdings_more=max(len(lines) - len(shown), 0),
        events=events[:8],
        reminders=[],
        last_follow_up=last,
        tags=list(customer.tags or []),
    )
    action = _next_action(parts)
    hint = next((mot for prefix, mot in ACTION_MOT.items() if action.startswith(prefix)), None)
    return CustomerView(**parts, next_action=action, mot_hint=hint)


def new_task_id(customer_no: str) -> str:
    return f"cust-{customer_no}-{secrets.token_hex(4)}"


def template_card(
    view: CustomerView, *, task_id: str, url: str | None = None, script_title: str | None = None
) -> dict[str, Any]:
    """The WeCom `button_interaction` card, follow-up buttons included, within field limits."""
    risk = f"{view.risk_level} {view.risk_label}" + ("（测评已过期）" if view.risk_expired else "")
    rows = [("手机", view.mobile), ("风险等级", risk), ("资产", view.asset_range)]
    if view.margin_alarm:
        rows.append(("两融", view.margin_alarm))
    alarm = next((h for h in view.holdings if h.alarm), None)
    if alarm:
        rows.append(("持仓提示", f"{alarm.name} {alarm.alarm}"))
    elif view.holdings:
        top = view.holdings[0]
        rows.append(("主要持仓", f"{top.name} {top.weight_pct:.0f}%"))
    if view.events:
        rows.append(("近期动态", f"{view.events[0].when} {view.events[0].label}"))
    if script_title:
        rows.append(("推荐话术", script_title))
    if view.last_follow_up and len(rows) < cards.MAX_ROWS:
        rows.append(("上次跟进", view.last_follow_up))
    return cards.button_card(
        task_id=task_id,
        title=f"客户 {view.name}",
        desc=f"{view.investor_type} · {view.asset_range}",
        sub_title=f"建议：{view.next_action}",
        rows=rows[: cards.MAX_ROWS],
        buttons=outcomes.buttons(task_id),
        url=url,
    )


# Markdown sections, most important first: the last ones are dropped first when space runs out.
MARKDOWN_SECTIONS = ("head", "action", "risk", "holdings", "events", "follow", "tags")


def markdown(view: CustomerView, *, limit: int = cards.MARKDOWN_MAX_BYTES) -> str:
    """The markdown fallback within `limit` bytes: the least important sections go first.

    Free text from feeds is masked like everything pushed (phone, ID and card numbers).
    """
    template = _templates.get_template("card.md.j2")
    sections = [mask_sensitive(template.render(v=view, part=name)) for name in MARKDOWN_SECTIONS]
    while len(sections) > 1 and len("\n".join(sections).encode()) > limit:
        sections.pop()
    return cards.clip_bytes("\n".join(sections).strip(), limit)


def html(view: CustomerView) -> str:
    """The sidebar card; free text from feeds is masked like everything pushed."""
    return mask_sensitive(_templates.get_template("card.html").render(v=view))


def push(
    session: Session,
    *,
    clock: Clock,
    customer: Customer,
    advisor_userid: str,
    reason: str,
    natural_key: str,
    tz: Any,
    priority: int = 2,
    script_title: str | None = None,
) -> str:
    """Queue the customer's card to an advisor (and remember the card for its buttons)."""
    from bot.outbox import service as outbox_service

    view = build_view(session, clock=clock, customer=customer, tz=tz)
    task_id = new_task_id(customer.customer_no)
    queued = outbox_service.enqueue(
        session,
        clock=clock,
        natural_key=natural_key,
        recipient=advisor_userid,
        msg_type="template_card",
        payload=template_card(view, task_id=task_id, script_title=script_title),
        priority=priority,
    )
    if queued is not None:
        session.add(
            CustomerCard(
                task_id=task_id,
                customer_no=customer.customer_no,
                advisor_userid=advisor_userid,
                reason=reason,
                sent_at=clock.now(),
            )
        )
    return task_id


def customer_for_task(session: Session, *, task_id: str) -> str | None:
    card = session.get(CustomerCard, task_id)
    return card.customer_no if card else None
