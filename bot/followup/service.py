"""Recording follow-ups and reading them back."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.clock import Clock
from bot.followup.models import FollowUp
from bot.followup.outcomes import Outcome


def record(
    session: Session,
    *,
    clock: Clock,
    advisor_userid: str,
    task_id: str,
    outcome: Outcome,
    source: str,
    source_key: str,
    customer_no: str | None = None,
) -> FollowUp | None:
    """Log a follow-up; None when this very push was already logged."""
    if session.exec(select(FollowUp.id).where(FollowUp.source_key == source_key)).first():
        return None
    row = FollowUp(
        advisor_userid=advisor_userid,
        task_id=task_id,
        customer_no=customer_no,
        outcome=outcome.code,
        source=source,
        source_key=source_key,
        recorded_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def last_for_customer(session: Session, *, customer_no: str) -> FollowUp | None:
    stmt = select(FollowUp).where(FollowUp.customer_no == customer_no)
    return session.exec(stmt.order_by(FollowUp.id.desc())).first()  # type: ignore[union-attr]
