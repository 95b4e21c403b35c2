"""Claiming work from a table shared by several workers.

A row is claimable when it is pending and due, or when the worker that claimed it let its
lease lapse (it crashed). On PostgreSQL the select locks rows with FOR UPDATE SKIP LOCKED so
concurrent workers take disjoint rows; on SQLite every write transaction is BEGIN IMMEDIATE,
which serialises claims the same way.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

T = TypeVar("T")


def due_rows(
    session: Session,
    model: type[T],
    *,
    now: datetime,
    active_status: str,
    limit: int,
    order_by: list[Any],
) -> list[T]:
    """Lock and return up to `limit` claimable rows of `model`, in `order_by` order."""
    m: Any = model
    stmt = (
        select(model)
        .where(
            sa.or_(
                sa.and_(m.status == "pending", m.next_attempt_at <= now),
                sa.and_(m.status == active_status, m.lease_until < now),
            )
        )
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(stmt).all())


def backoff(attempt: int, *, base: float, cap: float) -> timedelta:
    """Exponential backoff with full jitter for retry number `attempt` (1-based)."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
