"""Recording follow-ups."""

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
) -> FollowUp | None:
    """Log a follow-up; None when this very push was already logged."""
    if session.exec(select(FollowUp.id).where(FollowUp.source_key == source_key)).first():
        return None
    row = FollowUp(
        advisor_userid=advisor_userid,
        task_id=task_id,
        outcome=outcome.code,
        source=source,
        source_key=source_key,
        recorded_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def list_for(session: Session, *, advisor_userid: str) -> list[FollowUp]:
    stmt = select(FollowUp).where(FollowUp.advisor_userid == advisor_userid)
    return list(session.exec(stmt.order_by(FollowUp.id)).all())  # type: ignore[arg-type]
