"""Imports every domain's tables so that metadata (and Alembic) sees the whole schema."""

from bot.followup.models import FollowUp
from bot.outbox.models import OutboxAttempt, OutboxMessage
from bot.wecom.models import AccessToken, InboxMessage

__all__ = ["AccessToken", "FollowUp", "InboxMessage", "OutboxAttempt", "OutboxMessage"]
