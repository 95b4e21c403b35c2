"""Writing to the outbox and reading its state. Sending is the dispatcher's job."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.clock import Clock
from bot.outbox.models import OutboxMessage
from bot.privacy import scrub

log = logging.getLogger(__name__)

MESSAGE_TYPES = frozenset({"text", "markdown", "textcard", "template_card", "update_template_card"})


def enqueue(
    session: Session,
    *,
    clock: Clock,
    natural_key: str,
    recipient: str,
    msg_type: str,
    payload: dict[str, Any],
    priority: int = 2,
) -> OutboxMessage | None:
    """Queue a message in the caller's transaction; None when `natural_key` is already queued."""
    if msg_type not in MESSAGE_TYPES:
        raise ValueError(f"unknown outbox message type {msg_type!r}")
    if session.exec(
        select(OutboxMessage.id).where(OutboxMessage.natural_key == natural_key)
    ).first():
        return None
    # The last line of defence: nothing leaves through WeCom with a full phone, ID or card number.
    safe = scrub(payload)
    if safe != payload:
        log.warning("masked personal data in an outbound message", extra={"key": natural_key})
    now = clock.now()
    row = OutboxMessage(
        natural_key=natural_key,
        recipient=recipient,
        msg_type=msg_type,
        payload=safe,
        priority=priority,
        created_at=now,
        next_attempt_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def depth_by_status(session: Session) -> dict[str, int]:
    """How many messages are in each status."""
    stmt = select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
    return {status: int(n) for status, n in session.exec(stmt).all()}
