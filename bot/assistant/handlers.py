"""The assistant's side of the inbox: an instant answer for chat, handlers for events.

Event handlers are declared in a table keyed by (event, change type); each may fetch what it
needs from WeCom first (`prepare`, outside any transaction), then writes its effects (`apply`)
in the transaction that marks the push done. Pushes nobody handles are simply marked done.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from bot.assistant import customer_commands, script_commands  # noqa: F401  (registration)
from bot.assistant.commands import CommandContext, reply_to
from bot.assistant.script_commands import top_script
from bot.clock import Clock
from bot.customers import card
from bot.customers import service as customers
from bot.customers.models import Customer
from bot.followup import outcomes
from bot.followup import service as followup_service
from bot.outbox import service as outbox_service
from bot.privacy import mask_mobile, mask_name
from bot.wecom import cards
from bot.wecom.client import WeComClient
from bot.wecom.inbound import Inbound

log = logging.getLogger(__name__)

UNSUPPORTED_REPLY = "目前只支持文字指令。发送「帮助」查看可用指令。"


@dataclass(frozen=True)
class HandlerContext:
    client: WeComClient
    clock: Clock
    tz: Any
    checker: Any
    catalog: Any


async def _nothing(ctx: HandlerContext, inbound: Inbound) -> Any:
    return None


@dataclass(frozen=True)
class EventHandler:
    apply: Callable[[HandlerContext, Session, Inbound, Any], None]
    prepare: Callable[[HandlerContext, Inbound], Awaitable[Any]] = _nothing


EVENT_HANDLERS: dict[tuple[str, str | None], EventHandler] = {}


def on_event(
    event: str,
    change_type: str | None = None,
    prepare: Callable[[HandlerContext, Inbound], Awaitable[Any]] = _nothing,
) -> Callable[[Callable[[HandlerContext, Session, Inbound, Any], None]], Any]:
    def register(apply: Callable[[HandlerContext, Session, Inbound, Any], None]) -> Any:
        key = (event, change_type)
        if key in EVENT_HANDLERS:
            raise ValueError(f"event handler for {key} declared twice")
        EVENT_HANDLERS[key] = EventHandler(apply=apply, prepare=prepare)
        return apply

    return register


class AssistantHandlers:
    """Implements bot.wecom.inbox.InboxHandlers."""

    def __init__(self, *, client: WeComClient, clock: Clock, tz: Any, checker: Any, catalog: Any):
        self.ctx = HandlerContext(
            client=client, clock=clock, tz=tz, checker=checker, catalog=catalog
        )

    def instant_reply(self, session: Session, inbound: Inbound) -> str | None:
        if inbound.msg_type != "text":
            return UNSUPPORTED_REPLY
        ctx = CommandContext(
            session=session,
            clock=self.ctx.clock,
            tz=self.ctx.tz,
            checker=self.ctx.checker,
            catalog=self.ctx.catalog,
            advisor_userid=inbound.from_user,
            args="",
        )
        return reply_to(ctx, inbound.content)

    def _handler(self, inbound: Inbound) -> EventHandler | None:
        if inbound.event is None:
            return None
        return EVENT_HANDLERS.get((inbound.event, inbound.change_type)) or EVENT_HANDLERS.get(
            (inbound.event, None)
        )

    async def prepare(self, inbound: Inbound) -> Any:
        handler = self._handler(inbound)
        return await handler.prepare(self.ctx, inbound) if handler else None

    def handle(self, session: Session, inbound: Inbound, prepared: Any) -> None:
        handler = self._handler(inbound)
        if handler is None:
            log.info(
                "no handler for push", extra={"msg_type": inbound.msg_type, "event": inbound.event}
            )
            return
        handler.apply(self.ctx, session, inbound, prepared)


def _event_id(inbound: Inbound) -> str:
    return "wecom-" + hashlib.sha1(inbound.dedupe_key.encode()).hexdigest()[:32]


@on_event("template_card_event")
def _card_button(ctx: HandlerContext, session: Session, inbound: Inbound, _: Any) -> None:
    """A tap on a follow-up button: log it, then relabel the button for the advisor."""
    parsed = outcomes.parse_key(str(inbound.fields.get("EventKey") or ""))
    if parsed is None:
        log.warning(
            "card button with an unknown key", extra={"key": inbound.fields.get("EventKey")}
        )
        return
    outcome, task_id = parsed
    logged = followup_service.record(
        session,
        clock=ctx.clock,
        advisor_userid=inbound.from_user,
        task_id=task_id,
        outcome=outcome,
        source="card",
        source_key=inbound.dedupe_key,
        customer_no=card.customer_for_task(session, task_id=task_id),
    )
    response_code = str(inbound.fields.get("ResponseCode") or "")
    if logged is not None and response_code:
        outbox_service.enqueue(
            session,
            clock=ctx.clock,
            natural_key=f"card-update:{inbound.dedupe_key}",
            recipient=inbound.from_user,
            msg_type="update_template_card",
            payload={"response_code": response_code, "replace_name": outcome.done_label},
            priority=1,
        )


async def _fetch_contact(ctx: HandlerContext, inbound: Inbound) -> Any:
    return await ctx.client.get_external_contact(str(inbound.fields.get("ExternalUserID")))


def _tell(ctx: HandlerContext, session: Session, inbound: Inbound, text: str) -> None:
    outbox_service.enqueue(
        session,
        clock=ctx.clock,
        natural_key=f"contact:{inbound.dedupe_key}",
        recipient=inbound.advisor_userid,
        msg_type="text",
        payload=cards.text(text),
        priority=2,
    )


def _match(
    session: Session, advisor: str, external_userid: str, state: str, follow: dict[str, Any]
) -> Customer | None:
    """The customer behind a new contact: by QR-code State, remark mobile, or an old binding."""
    if state:
        found = customers.get_by_no(session, customer_no=state.removeprefix("cust_"))
        if found is not None:
            return found
    mobiles = [str(m) for m in follow.get("remark_mobiles") or []]
    found = customers.by_remark_mobile(session, userid=advisor, mobiles=mobiles)
    return found or customers.get_by_external(session, external_userid=external_userid)


@on_event("change_external_contact", "add_external_contact", prepare=_fetch_contact)
def _contact_added(ctx: HandlerContext, session: Session, inbound: Inbound, contact: Any) -> None:
    """A customer added the advisor: bind the contact to the customer and push their card,
    or, when nothing identifies them, ask the advisor to pick from the closest matches."""
    advisor = inbound.advisor_userid
    external_userid = str(inbound.fields.get("ExternalUserID"))
    name = str((contact or {}).get("external_contact", {}).get("name", ""))
    follow: dict[str, Any] = next(
        (f for f in (contact or {}).get("follow_user", []) if f.get("userid") == advisor), {}
    )
    state = str(inbound.fields.get("State") or follow.get("state") or "")
    customer = _match(session, advisor, external_userid, state, follow)
    if customer is None:
        candidates = customers.closest_by_name(session, userid=advisor, name=name)
        customers.open_pending(
            session,
            clock=ctx.clock,
            advisor_userid=advisor,
            external_userid=external_userid,
            contact_name=name,
            candidates=candidates,
        )
        lines = [f"新客户 {mask_name(name) or '（未命名）'} 添加了您，未能自动匹配客户档案。"]
        if candidates:
            lines.append("请回复「绑定 序号」选择：")
            lines += [
                f"{i}. {mask_name(c.name)}　{mask_mobile(c.mobile)}　客户号 {c.customer_no}"
                for i, c in enumerate(candidates, start=1)
            ]
        lines.append("也可回复「绑定 客户号」。")
        _tell(ctx, session, inbound, "\n".join(lines))
        return
    customers.bind(session, clock=ctx.clock, customer=customer, external_userid=external_userid)
    if customer.advisor_userid != advisor and customers.transferred_out(session, customer=customer):
        customers.transfer(session, clock=ctx.clock, customer=customer, to_userid=advisor)
    decision = customers.authorize_view(
        session,
        clock=ctx.clock,
        userid=advisor,
        customer=customer,
        action="card_view",
        channel="card",
    )
    if not decision.allowed:
        _tell(
            ctx,
            session,
            inbound,
            f"新客户 {mask_name(name)} 添加了您，但其客户档案归属其他顾问。"
            "如需由您服务，请联系主管办理客户移交。",
        )
        return
    title = top_script(
        session,
        catalog=ctx.catalog,
        clock=ctx.clock,
        tz=ctx.tz,
        customer=customer,
        advisor_userid=advisor,
        channel="card",
    )
    card.push(
        session,
        clock=ctx.clock,
        customer=customer,
        advisor_userid=advisor,
        reason="contact_added",
        natural_key=f"contact-card:{inbound.dedupe_key}",
        tz=ctx.tz,
        script_title=title,
    )


def _contact_removed(kind: str) -> Callable[[HandlerContext, Session, Inbound, Any], None]:
    def apply(ctx: HandlerContext, session: Session, inbound: Inbound, _: Any) -> None:
        """Record the relationship change on the customer's timeline (a churn signal)."""
        external_userid = str(inbound.fields.get("ExternalUserID"))
        customer = customers.get_by_external(session, external_userid=external_userid)
        if customer is None:
            return
        event_type = kind
        if (
            kind == "wecom_deleted_by_advisor"
            and inbound.fields.get("Source") == "DELETE_BY_TRANSFER"
        ):
            event_type = "wecom_transfer_out"
        customers.record_event(
            session,
            clock=ctx.clock,
            customer=customer,
            event_id=_event_id(inbound),
            type=event_type,
            attrs={"advisor_userid": inbound.advisor_userid},
        )

    return apply


on_event("change_external_contact", "del_follow_user")(
    _contact_removed("wecom_deleted_by_customer")
)
on_event("change_external_contact", "del_external_contact")(
    _contact_removed("wecom_deleted_by_advisor")
)
