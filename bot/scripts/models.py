"""Script versions, their audit trail, and the log of which version went to whom."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import utc_column


class ScriptVersion(SQLModel, table=True):
    """One version of a script. Approved versions are never modified: an edit is a new version."""

    __tablename__ = "script_version"
    __table_args__ = (
        sa.UniqueConstraint("script_id", "version"),
        sa.Index("ix_script_version_live", "status", "valid_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    script_id: str = Field(max_length=64, index=True)
    version: int
    title: str = Field(max_length=128)
    mot: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    stage: str = Field(max_length=16)
    intent: str = Field(max_length=16)
    segments: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    risk_levels: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    investor_types: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    products: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    body: str
    disclosures: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    status: str = Field(max_length=16)  # draft|submitted|approved|rejected|retired
    author: str = Field(max_length=128)
    reviewer: str | None = Field(default=None, max_length=128)
    approved_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    compliance_ref: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_column(nullable=False)

    def content(self) -> dict[str, Any]:
        """The fields an author writes (what a new version may change)."""
        from bot.scripts.library import CONTENT_KEYS

        return {k: getattr(self, k) for k in CONTENT_KEYS}


class ScriptAudit(SQLModel, table=True):
    """Every lifecycle transition; kept for good (records are retained 20 years)."""

    __tablename__ = "script_audit"

    id: int | None = Field(default=None, primary_key=True)
    script_id: str = Field(max_length=64, index=True)
    version: int
    action: str = Field(max_length=16)  # create|seed|import|submit|approve|reject|retire
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    comment: str | None = None
    at: datetime = utc_column(nullable=False)


class ScriptDelivery(SQLModel, table=True):
    """Each script version shown to or sent by an advisor, for which customer."""

    __tablename__ = "script_delivery"
    __table_args__ = (sa.Index("ix_script_delivery_script", "script_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    script_id: str = Field(max_length=64)
    version: int
    advisor_userid: str = Field(max_length=128, index=True)
    customer_no: str | None = Field(default=None, max_length=32, index=True)
    channel: str = Field(max_length=16)  # chat|card|sidebar
    action: str = Field(max_length=16)  # shown|sent
    at: datetime = utc_column(nullable=False)
