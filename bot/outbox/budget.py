"""The per-advisor send budget: WeCom's 30 a minute and 1000 an hour, kept by the bot itself.

Usage is derived from the attempt log (every call counts, failed or not), over sliding
windows. Reservations happen inside the claim transaction, serialised per recipient, so two
dispatchers can never both spend an advisor's last slot.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from bot.db import is_postgres
from bot.outbox.models import OutboxAttempt

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SendBudget:
    per_minute: int = 30
    per_hour: int = 1000


@dataclass
class RecipientUsage:
    """Attempt times in the last hour for one recipient, oldest first."""

    times: list[datetime] = field(default_factory=list)

    def in_window(self, now: datetime, window: timedelta) -> list[datetime]:
        return [t for t in self.times if t > now - window]

    def next_free(self, now: datetime, budget: SendBudget) -> datetime | None:
        """None if a send is allowed now, else the moment the first slot frees."""
        minute = self.in_window(now, MINUTE)
        hour = self.in_window(now, HOUR)
        frees: list[datetime] = []
        if len(minute) >= budget.per_minute:
            frees.append(minute[len(minute) - budget.per_minute] + MINUTE)
        if len(hour) >= budget.per_hour:
            frees.append(hour[len(hour) - budget.per_hour] + HOUR)
        return max(frees) if frees else None

    def spend(self, now: datetime) -> None:
        self.times.append(now)


def lock_and_load(
    session: Session, recipients: set[str], now: datetime
) -> dict[str, RecipientUsage]:
    """Serialise on each recipient (PostgreSQL advisory locks) and load their last hour."""
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        for recipient in sorted(recipients):  # one order everywhere: no deadlocks
            session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": recipient})
    usage: dict[str, RecipientUsage] = defaultdict(RecipientUsage)
    if not recipients:
        return usage
    rows = session.exec(
        select(OutboxAttempt.recipient, OutboxAttempt.started_at)
        .where(OutboxAttempt.recipient.in_(recipients))  # type: ignore[attr-defined]
        .where(OutboxAttempt.started_at > now - HOUR)
        .order_by(OutboxAttempt.started_at)  # type: ignore[arg-type]
    ).all()
    for recipient, started_at in rows:
        usage[recipient].times.append(started_at)
    return usage
