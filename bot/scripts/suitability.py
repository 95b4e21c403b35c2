"""The suitability gate (CSRC order 130): which scripts may be offered to which customer.

Ordinary investors: a product script only when every referenced product's level is within
the customer's (C1 → R1, C2 → R1-R2, C3 → R1-R3, C4 → R1-R4, C5 → all), never above it, and
none at all while the risk assessment has expired. Professional investors are not rated
C1-C5: they may be offered products of any level (the firm's rule for them), still only with
scripts written for professional investors. Every refusal says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.knowledge.base import Product

RISK_ORDER = {"C1": 1, "C2": 2, "C3": 3, "C4": 4, "C5": 5}
PRODUCT_ORDER = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None


ALLOWED = Verdict(True)


def product_allowed(
    *,
    investor_type: str,
    risk_level: str,
    product_level: str,
    assessment_valid_until: date,
    today: date,
) -> Verdict:
    """May a product of `product_level` be recommended to this customer?"""
    if investor_type == "professional":
        return ALLOWED
    if assessment_valid_until < today:
        return Verdict(
            False, f"客户风险测评已于 {assessment_valid_until} 过期，重新测评前不推荐任何产品"
        )
    if PRODUCT_ORDER[product_level] > RISK_ORDER[risk_level]:
        return Verdict(
            False, f"产品风险等级 {product_level} 高于客户风险承受能力 {risk_level}，不得推荐"
        )
    return ALLOWED


def script_allowed(
    *,
    investor_type: str,
    risk_level: str,
    assessment_valid_until: date,
    marketing_opt_out: bool,
    script_risk_levels: list[str],
    script_investor_types: list[str],
    intent: str,
    products: list[Product],
    today: date,
) -> Verdict:
    """May this script be offered to this customer? The first reason against wins."""
    if investor_type not in script_investor_types:
        who = "专业投资者" if investor_type == "professional" else "普通投资者"
        return Verdict(False, f"该话术不适用于{who}")
    if investor_type == "ordinary" and risk_level not in script_risk_levels:
        return Verdict(
            False, f"该话术面向 {'、'.join(script_risk_levels)} 客户，客户为 {risk_level}"
        )
    if intent == "营销" and marketing_opt_out:
        return Verdict(False, "客户已拒绝接收营销信息")
    for product in products:
        verdict = product_allowed(
            investor_type=investor_type,
            risk_level=risk_level,
            product_level=product.risk_level,
            assessment_valid_until=assessment_valid_until,
            today=today,
        )
        if not verdict.allowed:
            return verdict
    return ALLOWED
