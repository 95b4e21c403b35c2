"""Masking personal data before anything leaves through WeCom (COMPLIANCE.md, PIPL)."""

from __future__ import annotations

import re

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
