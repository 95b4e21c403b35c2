"""The follow-up log. Records are business records: the bot never deletes them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.db import utc_column


class FollowUp(SQLModel, table=True):
    __tablename__ = "follow_up"

    id: int | None = Field(default=None, primary_key=True)
    advisor_userid: str = Field(max_length=128, index=True)
    task_id: str = Field(max_length=128, index=True)  # the card (reminder) it answers
    customer_no: str | None = Field(default=None, max_length=32, index=True)
    outcome: str = Field(max_length=32)
    source: str = Field(max_length=16)  # card|chat|sidebar
    # The push that recorded it: a retried click cannot log twice.
    source_key: str = Field(max_length=512, unique=True)
    recorded_at: datetime = utc_column(nullable=False)
