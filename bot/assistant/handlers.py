"""The assistant's side of the inbox: an instant answer for chat, handlers for events.

Event handlers are declared in a table keyed by (event, change type); each may fetch what it
needs from WeCom first (`prepare`, outside any transaction), then writes its effects (`apply`)
in the transaction that marks the push done. Pushes nobody handles are simply marked done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from bot.assistant.commands import CommandContext, reply_to
from bot.clock import Clock
from bot.followup import outcomes
from bot.followup import service as followup_service
from bot.outbox import service as outbox_service
from bot.privacy import mask_name
from bot.wecom import cards
from bot.wecom.client import WeComClient
from bot.wecom.inbound import Inbound

log = logging.getLogger(__name__)

UNSUPPORTED_REPLY = "目前只支持文字指令。发送「帮助」查看可用指令。"


@dataclass(frozen=True)
class HandlerContext:
    client: WeComClient
    clock: Clock


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

    def __init__(self, *, client: WeComClient, clock: Clock):
        self.ctx = HandlerContext(client=client, clock=clock)

    def instant_reply(self, session: Session, inbound: Inbound) -> str | None:
        if inbound.msg_type != "text":
            return UNSUPPORTED_REPLY
        return reply_to(
            CommandContext(session, self.ctx.clock, inbound.from_user, ""), inbound.content
        )

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


@on_event("change_external_contact", "add_external_contact", prepare=_fetch_contact)
def _contact_added(ctx: HandlerContext, session: Session, inbound: Inbound, contact: Any) -> None:
    """A customer added the advisor: tell the advisor who it is (masked)."""
    name = mask_name(str((contact or {}).get("external_contact", {}).get("name", ""))) or "新客户"
    state = str(inbound.fields.get("State") or "")
    lines = [f"新客户 {name} 添加了您为企业微信联系人。"]
    if state:
        lines.append(f"来源渠道：{state}")
    outbox_service.enqueue(
        session,
        clock=ctx.clock,
        natural_key=f"contact-added:{inbound.dedupe_key}",
        recipient=inbound.advisor_userid,
        msg_type="text",
        payload=cards.text("\n".join(lines)),
        priority=2,
    )
