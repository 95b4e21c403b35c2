"""Tables of the customer book. Money is Decimal; dates are business dates; times are UTC."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import utc_column

MONEY = sa.Numeric(18, 2)


class Advisor(SQLModel, table=True):
    __tablename__ = "advisor"

    userid: str = Field(primary_key=True, max_length=128)  # the WeCom userid
    name: str = Field(max_length=64)
    branch: str = Field(max_length=128)
    role: str = Field(max_length=16)  # advisor|lead|compliance|hq
    lead_userid: str | None = Field(default=None, max_length=128, index=True)
    content_hash: str = Field(max_length=64)
    updated_at: datetime = utc_column(nullable=False)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    customer_no: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=64)
    mobile: str = Field(max_length=20, index=True)
    advisor_userid: str = Field(foreign_key="advisor.userid", max_length=128, index=True)
    external_userid: str | None = Field(default=None, max_length=128, unique=True)
    gender: str | None = Field(default=None, max_length=8)
    birthday: date | None = None
    opened_on: date
    risk_level: str = Field(max_length=2)
    risk_assessed_on: date
    risk_expires_on: date | None = None
    investor_type: str = Field(max_length=16)
    asset_tier: str | None = Field(default=None, max_length=16)
    total_assets: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    cash: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    marketing_opt_out: bool = False
    margin_ratio: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(10, 4)))
    content_hash: str = Field(max_length=64)
    updated_at: datetime = utc_column(nullable=False)


class Holding(SQLModel, table=True):
    __tablename__ = "holding"
    __table_args__ = (sa.UniqueConstraint("customer_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    code: str = Field(max_length=32)
    name: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # stock|fund|bond|cb|wealth|option
    risk_level: str = Field(max_length=2)  # R1..R5
    quantity: Decimal = Field(sa_column=sa.Column(sa.Numeric(20, 4), nullable=False))
    cost: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    market_value: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    day_change_pct: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(8, 4)))
    maturity_date: date | None = None


class CustomerEvent(SQLModel, table=True):
    __tablename__ = "customer_event"
    __table_args__ = (sa.Index("ix_customer_event_timeline", "customer_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128, unique=True)
    customer_id: int = Field(foreign_key="customer.id")
    type: str = Field(max_length=32)
    occurred_at: datetime = utc_column(nullable=False)
    amount: Decimal | None = Field(default=None, sa_column=sa.Column(MONEY))
    attrs: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class CustomerHistory(SQLModel, table=True):
    """Changes to the fields that matter for service; never deleted."""

    __tablename__ = "customer_history"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    field: str = Field(max_length=32)
    old_value: str | None = None
    new_value: str | None = None
    source: str = Field(max_length=32)  # feed|hq_api|wecom
    changed_at: datetime = utc_column(nullable=False)


class PendingBinding(SQLModel, table=True):
    """A WeCom contact the bot could not match; the advisor is asked to pick."""

    __tablename__ = "pending_binding"

    id: int | None = Field(default=None, primary_key=True)
    advisor_userid: str = Field(max_length=128, index=True)
    external_userid: str = Field(max_length=128)
    contact_name: str = Field(max_length=64)
    candidates: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = utc_column(nullable=False)
    resolved_at: datetime | None = utc_column()


class AccessLog(SQLModel, table=True):
    """Every card view and search, allowed or refused (PIPL art. 51: log access)."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_userid: str = Field(max_length=128, index=True)
    action: str = Field(max_length=32)  # card_view|search|sidebar_view
    channel: str = Field(max_length=16)  # chat|sidebar|card|hq
    customer_no: str | None = Field(default=None, max_length=32)
    query: str | None = Field(default=None, max_length=128)
    allowed: bool
    reason: str | None = Field(default=None, max_length=256)
    at: datetime = utc_column(nullable=False)


class CustomerCard(SQLModel, table=True):
    """Each customer card pushed to an advisor: which customer a card's buttons are about."""

    __tablename__ = "customer_card"

    task_id: str = Field(primary_key=True, max_length=128)
    customer_no: str = Field(max_length=32, index=True)
    advisor_userid: str = Field(max_length=128)
    reason: str = Field(max_length=32)  # search|contact_added|reminder
    sent_at: datetime = utc_column(nullable=False)
