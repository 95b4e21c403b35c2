"""The outbox table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import utc_column


class OutboxMessage(SQLModel, table=True):
    """A message to an advisor, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_message_due", "status", "next_attempt_at", "priority"),)

    id: int | None = Field(default=None, primary_key=True)
    natural_key: str = Field(max_length=256, unique=True)  # makes enqueueing idempotent
    channel: str = Field(default="wecom", max_length=32)
    recipient: str = Field(max_length=128)  # the advisor's WeCom userid
    msg_type: str = Field(max_length=32)  # text|markdown|textcard|template_card
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    priority: int = Field(default=2)  # 1 most urgent (P1) .. 3 (P3), as in the MOT catalogue
    status: str = Field(default="pending", max_length=16)  # pending|sending|sent|dead
    attempts: int = 0
    next_attempt_at: datetime = utc_column(nullable=False)
    lease_until: datetime | None = utc_column()  # a dispatcher owns a 'sending' row until then
    created_at: datetime = utc_column(nullable=False)
    sent_at: datetime | None = utc_column()
    last_errcode: int | None = None
    last_error: str | None = None
    wecom_msgid: str | None = Field(default=None, max_length=256)
    response_code: str | None = Field(default=None, max_length=512)


class OutboxAttempt(SQLModel, table=True):
    """One call to the channel for one message; the send budget counts these."""

    __tablename__ = "outbox_attempt"
    __table_args__ = (sa.Index("ix_outbox_attempt_budget", "recipient", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", index=True)
    recipient: str = Field(max_length=128)
    started_at: datetime = utc_column(nullable=False)
    errcode: int | None = None
    error: str | None = None
