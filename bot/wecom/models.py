"""Tables owned by the WeCom domain: the callback inbox and the shared access-token cache."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import utc_column


class InboxMessage(SQLModel, table=True):
    """One accepted WeCom push, stored before it is acknowledged and processed after."""

    __tablename__ = "wecom_inbox"
    __table_args__ = (sa.Index("ix_wecom_inbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # MsgId for messages, the event's identifying fields otherwise (see PROTOCOL.md).
    dedupe_key: str = Field(max_length=512, unique=True)
    msg_type: str = Field(max_length=32)
    event: str | None = Field(default=None, max_length=64)
    from_user: str = Field(max_length=128)
    plaintext: str  # the decrypted XML, kept verbatim
    status: str = Field(default="pending", max_length=16)  # pending|processing|done|failed
    attempts: int = 0
    next_attempt_at: datetime = utc_column(nullable=False)
    lease_until: datetime | None = utc_column()
    last_error: str | None = None
    passive_reply: str | None = None  # plaintext reply given in the HTTP answer, if any
    received_at: datetime = utc_column(nullable=False)
    processed_at: datetime | None = utc_column()


class AccessToken(SQLModel, table=True):
    """The app's access token, shared by every worker so gettoken is called rarely."""

    __tablename__ = "wecom_access_token"

    app_key: str = Field(primary_key=True, max_length=128)
    access_token: str | None = Field(default=None, max_length=512)
    expires_at: datetime | None = utc_column()
    # A worker refreshing the token holds this lease; others wait for its result.
    refresh_lease_until: datetime | None = utc_column()
    refresh_owner: str | None = Field(default=None, max_length=64)
