"""Masking personal data before anything leaves through WeCom (COMPLIANCE.md, PIPL)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_name(name: str) -> str:
    """`张三` → `张*`, `欧阳娜娜` → `欧***`; empty stays empty."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_mobile(mobile: str) -> str:
    """`13812341234` → `138****1234`; anything not an 11-digit mainland mobile becomes `****`."""
    digits = re.sub(r"\D", "", mobile)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_mobiles_in(text: str) -> str:
    """Mask every mainland mobile number found in free text."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
# Fields that carry protocol identifiers, not words a person reads.
_IDENTIFIER_KEYS = frozenset({"task_id", "key", "response_code", "url", "agentid", "touser"})


def mask_sensitive(text: str) -> str:
    """Mask mainland mobiles, 18-digit ID numbers and 16-19 digit card numbers in free text."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _BANK_CARD.sub(lambda m: f"{m.group(1)} **** **** {m.group(2)}", text)
    return mask_mobiles_in(text)


def scrub(value: Any) -> Any:
    """A copy of a message payload with every readable string passed through `mask_sensitive`."""
    if isinstance(value, str):
        return mask_sensitive(value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _IDENTIFIER_KEYS else scrub(v) for k, v in value.items()}
    return value


def asset_range(amount: Decimal | float) -> str:
    """A range instead of an exact balance, for anything pushed through WeCom."""
    value = float(amount)
    for limit, label in (
        (1e5, "10万以下"),
        (5e5, "10-50万"),
        (1e6, "50-100万"),
        (3e6, "100-300万"),
        (1e7, "300-1000万"),
    ):
        if value < limit:
            return label
    return "1000万以上"
