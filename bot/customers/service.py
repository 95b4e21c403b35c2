"""Customer book services: look-ups, who may see whom, search, bindings, ownership, access log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.customers.models import (
    AccessLog,
    Advisor,
    Customer,
    CustomerEvent,
    CustomerHistory,
    Holding,
    PendingBinding,
)

NOT_YOURS = "该客户不在您的服务名单中，无法查看"


def get_advisor(session: Session, *, userid: str) -> Advisor | None:
    return session.get(Advisor, userid)


def get_by_no(session: Session, *, customer_no: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.customer_no == customer_no)).first()


def get_by_external(session: Session, *, external_userid: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_userid == external_userid)).first()


def holdings_of(session: Session, *, customer: Customer) -> list[Holding]:
    return list(session.exec(select(Holding).where(Holding.customer_id == customer.id)).all())


def events_since(session: Session, *, customer: Customer, since: datetime) -> list[CustomerEvent]:
    stmt = (
        select(CustomerEvent)
        .where(CustomerEvent.customer_id == customer.id)
        .where(CustomerEvent.occurred_at >= since)
        .order_by(col(CustomerEvent.occurred_at).desc())
    )
    return list(session.exec(stmt).all())


def visible_owners(session: Session, *, userid: str) -> set[str]:
    """Whose customers `userid` may open in WeCom: their own; a lead's team too.

    Compliance and HQ staff see customers through their own surfaces, not through chat.
    """
    advisor = session.get(Advisor, userid)
    if advisor is None or advisor.role not in ("advisor", "lead"):
        return set()
    owners = {userid}
    if advisor.role == "lead":
        owners |= set(session.exec(select(Advisor.userid).where(Advisor.lead_userid == userid)))
    return owners


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None


def may_view(session: Session, *, userid: str, customer: Customer) -> Decision:
    if customer.advisor_userid in visible_owners(session, userid=userid):
        return Decision(True)
    return Decision(False, NOT_YOURS)


def log_access(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    channel: str,
    customer_no: str | None = None,
    query: str | None = None,
    decision: Decision | None = None,
) -> None:
    decision = decision or Decision(True)
    session.add(
        AccessLog(
            actor_userid=actor,
            action=action,
            channel=channel,
            customer_no=customer_no,
            query=(query or None) and query[:128],
            allowed=decision.allowed,
            reason=decision.reason,
            at=clock.now(),
        )
    )


def authorize_view(
    session: Session, *, clock: Clock, userid: str, customer: Customer, action: str, channel: str
) -> Decision:
    """Decide whether `userid` may see `customer`, and log the look either way."""
    decision = may_view(session, userid=userid, customer=customer)
    log_access(
        session,
        clock=clock,
        actor=userid,
        action=action,
        channel=channel,
        customer_no=customer.customer_no,
        decision=decision,
    )
    return decision


def last_viewed(session: Session, *, userid: str, since: datetime) -> Customer | None:
    """The customer whose card `userid` last opened (allowed) since `since`."""
    no = session.exec(
        select(AccessLog.customer_no)
        .where(
            AccessLog.actor_userid == userid,
            AccessLog.action == "card_view",
            col(AccessLog.allowed).is_(True),
            AccessLog.at >= since,
        )
        .order_by(col(AccessLog.id).desc())
    ).first()
    return get_by_no(session, customer_no=no) if no else None


def search(session: Session, *, userid: str, query: str, limit: int = 5) -> list[Customer]:
    """Customers in `userid`'s visible book matching a name, a phone tail or a customer number.

    Digits: four are a phone tail, more a customer number (exact, else prefix). Anything else
    is a name, ranked by RapidFuzz; an exact name comes first.
    """
    owners = visible_owners(session, userid=userid)
    query = query.strip()
    if not owners or not query:
        return []
    in_book = col(Customer.advisor_userid).in_(owners)
    if query.isdigit():
        if len(query) == 4:
            stmt = select(Customer).where(in_book, col(Customer.mobile).endswith(query))
        else:
            exact = session.exec(
                select(Customer).where(in_book, Customer.customer_no == query)
            ).first()
            if exact:
                return [exact]
            stmt = select(Customer).where(in_book, col(Customer.customer_no).startswith(query))
        return list(session.exec(stmt.order_by(Customer.customer_no).limit(limit)).all())
    # Core rather than ORM rows: this scan is the hot part of every search.
    table = Customer.__table__  # type: ignore[attr-defined]
    choices: dict[int, str] = dict(
        session.connection()
        .execute(sa.select(table.c.id, table.c.name).where(table.c.advisor_userid.in_(owners)))
        .all()
    )
    ranked = process.extract(query, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=60)
    ids = [cid for _, _, cid in ranked]
    exact_first = sorted(ids, key=lambda cid: (choices[cid] != query, ids.index(cid)))
    found = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids)))}
    return [found[cid] for cid in exact_first]


def _history(
    session: Session,
    clock: Clock,
    customer: Customer,
    field: str,
    old: str | None,
    new: str | None,
    source: str,
) -> None:
    assert customer.id is not None
    session.add(
        CustomerHistory(
            customer_id=customer.id,
            field=field,
            old_value=old,
            new_value=new,
            source=source,
            changed_at=clock.now(),
        )
    )


def bind(session: Session, *, clock: Clock, customer: Customer, external_userid: str) -> None:
    """Bind a WeCom external contact to `customer` (moving it off any other customer)."""
    previous = get_by_external(session, external_userid=external_userid)
    if previous is not None and previous.id != customer.id:
        previous.external_userid = None
        session.add(previous)
        session.flush()
    customer.external_userid = external_userid
    session.add(customer)
    session.flush()


def transfer(session: Session, *, clock: Clock, customer: Customer, to_userid: str) -> None:
    """Move ownership to another advisor, keeping the history."""
    if customer.advisor_userid == to_userid:
        return
    _history(
        session, clock, customer, "advisor_userid", customer.advisor_userid, to_userid, "wecom"
    )
    customer.advisor_userid = to_userid
    session.add(customer)


def record_event(
    session: Session,
    *,
    clock: Clock,
    customer: Customer,
    event_id: str,
    type: str,
    attrs: dict[str, str],
) -> None:
    """Record a signal from WeCom (e.g. churn) on the customer's timeline, once."""
    if session.exec(select(CustomerEvent.id).where(CustomerEvent.event_id == event_id)).first():
        return
    assert customer.id is not None
    session.add(
        CustomerEvent(
            event_id=event_id,
            customer_id=customer.id,
            type=type,
            occurred_at=clock.now(),
            attrs=attrs,
        )
    )


def closest_by_name(session: Session, *, userid: str, name: str, limit: int = 3) -> list[Customer]:
    """Unbound customers of `userid` whose names are closest to `name` (to ask the advisor)."""
    rows = session.exec(
        select(Customer.id, Customer.name).where(
            Customer.advisor_userid == userid, col(Customer.external_userid).is_(None)
        )
    ).all()
    ranked = process.extract(name, {cid: n for cid, n in rows}, scorer=fuzz.WRatio, limit=limit)
    ids = [cid for _, _, cid in ranked]
    found = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids)))}
    return [found[cid] for cid in ids]


def by_remark_mobile(session: Session, *, userid: str, mobiles: list[str]) -> Customer | None:
    digits = ["".join(ch for ch in m if ch.isdigit())[-11:] for m in mobiles]
    if not digits:
        return None
    return session.exec(
        select(Customer).where(Customer.advisor_userid == userid, col(Customer.mobile).in_(digits))
    ).first()


def open_pending(
    session: Session,
    *,
    clock: Clock,
    advisor_userid: str,
    external_userid: str,
    contact_name: str,
    candidates: list[Customer],
) -> PendingBinding:
    pending = PendingBinding(
        advisor_userid=advisor_userid,
        external_userid=external_userid,
        contact_name=contact_name,
        candidates=[c.customer_no for c in candidates],
        created_at=clock.now(),
    )
    session.add(pending)
    session.flush()
    return pending


def latest_pending(session: Session, *, advisor_userid: str) -> PendingBinding | None:
    return session.exec(
        select(PendingBinding)
        .where(
            PendingBinding.advisor_userid == advisor_userid,
            col(PendingBinding.resolved_at).is_(None),
        )
        .order_by(col(PendingBinding.id).desc())
    ).first()


def transferred_out(session: Session, *, customer: Customer) -> bool:
    """Whether the latest WeCom relationship event of `customer` is a transfer away."""
    latest = session.exec(
        select(CustomerEvent.type)
        .where(
            CustomerEvent.customer_id == customer.id, col(CustomerEvent.type).startswith("wecom_")
        )
        .order_by(col(CustomerEvent.occurred_at).desc(), col(CustomerEvent.id).desc())
    ).first()
    return latest == "wecom_transfer_out"
