"""Imports every domain's tables so that metadata (and Alembic) sees the whole schema."""

from bot.customers.models import (
    AccessLog,
    Advisor,
    Customer,
    CustomerEvent,
    CustomerHistory,
    Holding,
    PendingBinding,
)
from bot.followup.models import FollowUp
from bot.outbox.models import OutboxAttempt, OutboxMessage
from bot.wecom.models import AccessToken, InboxMessage

__all__ = [
    "AccessLog",
    "AccessToken",
    "Advisor",
    "Customer",
    "CustomerEvent",
    "CustomerHistory",
    "FollowUp",
    "Holding",
    "InboxMessage",
    "OutboxAttempt",
    "OutboxMessage",
    "PendingBinding",
]
