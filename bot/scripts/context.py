"""Building the ranking audience from a customer in the book (masked, as the card shows it)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.clock import Clock
from bot.customers import card
from bot.customers import service as customers
from bot.customers.models import Customer
from bot.scripts.ranking import Audience


def audience_for(
    session: Session, *, clock: Clock, customer: Customer, advisor_userid: str, tz: Any
) -> Audience:
    view = card.build_view(session, clock=clock, customer=customer, tz=tz)
    advisor = customers.get_advisor(session, userid=advisor_userid)
    return Audience(
        customer_no=customer.customer_no,
        investor_type=customer.investor_type,
        risk_level=customer.risk_level,
        assessment_valid_until=view.risk_valid_until,
        marketing_opt_out=customer.marketing_opt_out,
        tags=tuple(customer.tags or ()),
        context={
            "customer": {
                "salutation": view.salutation,
                "name": view.name,
                "risk_level": view.risk_level,
                "risk_label": view.risk_label,
                "risk_valid_until": str(view.risk_valid_until),
                "asset_range": view.asset_range,
                "investor_type": view.investor_type,
            },
            "advisor": {"name": advisor.name if advisor else ""},
        },
    )
