"""The canonical feed records (DESIGN.md) and their validation.

Every problem is reported as (field, reason) with the reason in Chinese, for HQ operators.
Dates are ISO `YYYY-MM-DD`; event times are ISO 8601 with an offset; money and quantities are
non-negative decimals (a cost basis may not be negative either; P&L is derived).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
PRODUCT_RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
ROLES = ("advisor", "lead", "compliance", "hq")
HOLDING_KINDS = ("stock", "fund", "bond", "cb", "wealth", "option")
INVESTOR_TYPES = ("ordinary", "professional")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):  # xlsx cells
        return value.date()
    text = str(value).strip()
    if not _ISO_DATE.match(text):
        raise ValueError(f"日期格式应为 YYYY-MM-DD，收到 {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"不是有效日期：{text!r}") from None


def _optional_date(value: Any) -> Any:
    return None if _blank(value) else _date(value)


def _timestamp(value: Any) -> Any:
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"时间格式应为带时区的 ISO 8601（如 2026-11-20T09:30:00+08:00），收到 {text!r}"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"时间缺少时区偏移（如 +08:00）：{text!r}")
    return parsed.astimezone(UTC)


def _amount(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("应为数字")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"应为数字，收到 {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"应为数字，收到 {value!r}")
    if number < 0:
        raise ValueError(f"不能为负数，收到 {value}")
    return number


def _optional_amount(value: Any) -> Any:
    return None if _blank(value) else _amount(value)


def _signed(value: Any) -> Any:
    if _blank(value):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"应为数字，收到 {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"应为数字，收到 {value!r}")
    return number


def _choice(options: tuple[str, ...], what: str) -> Any:
    def check(value: Any) -> Any:
        text = str(value).strip()
        if text not in options:
            raise ValueError(f"{what}必须是 {'、'.join(options)} 之一，收到 {text!r}")
        return text

    return check


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "是"):
        return True
    if text in ("false", "0", "no", "n", "否", ""):
        return False
    raise ValueError(f"应为 true 或 false，收到 {value!r}")


def _text(limit: int) -> Any:
    def check(value: Any) -> Any:
        text = str(value).strip()
        if not text:
            raise ValueError("不能为空")
        if len(text) > limit:
            raise ValueError(f"长度不能超过 {limit} 个字符")
        return text

    return check


def _optional_text(limit: int) -> Any:
    def check(value: Any) -> Any:
        return None if _blank(value) else _text(limit)(value)

    return check


def _mobile(value: Any) -> Any:
    text = re.sub(r"[\s-]", "", str(value))
    if text.startswith("+86"):
        text = text[3:]
    if not _MOBILE.match(text):
        raise ValueError("应为 11 位中国大陆手机号")
    return text


def _json_list(value: Any) -> Any:
    """Lists arrive as JSON arrays, or in CSV/xlsx as JSON text or `a|b|c`."""
    if _blank(value):
        return []
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("不是有效的 JSON 数组") from None
    return [part.strip() for part in text.split("|") if part.strip()]


def _json_object(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError:
        raise ValueError("不是有效的 JSON 对象") from None
    if not isinstance(parsed, dict):
        raise ValueError("应为 JSON 对象")
    return parsed


Text32 = Annotated[str, BeforeValidator(_text(32))]
Text64 = Annotated[str, BeforeValidator(_text(64))]
Text128 = Annotated[str, BeforeValidator(_text(128))]
OptText128 = Annotated[str | None, BeforeValidator(_optional_text(128))]
Day = Annotated[date, BeforeValidator(_date)]
OptDay = Annotated[date | None, BeforeValidator(_optional_date)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]
OptAmount = Annotated[Decimal | None, BeforeValidator(_optional_amount)]
Signed = Annotated[Decimal | None, BeforeValidator(_signed)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AdvisorRecord(_Record):
    userid: Text128
    name: Text64
    branch: Text128
    role: Annotated[str, BeforeValidator(_choice(ROLES, "角色"))]
    lead_userid: OptText128 = None


class HoldingRecord(_Record):
    code: Text32
    name: Text64
    kind: Annotated[str, BeforeValidator(_choice(HOLDING_KINDS, "品种"))]
    risk_level: Annotated[str, BeforeValidator(_choice(PRODUCT_RISK_LEVELS, "产品风险等级"))]
    quantity: Amount
    cost: Amount
    market_value: Amount
    day_change_pct: Signed = None
    maturity_date: OptDay = None


class MarginRecord(_Record):
    maintenance_ratio: Amount


class CustomerRecord(_Record):
    customer_no: Text32
    name: Text64
    mobile: Annotated[str, BeforeValidator(_mobile)]
    advisor_userid: Text128
    external_userid: OptText128 = None
    gender: Annotated[
        str | None,
        BeforeValidator(
            lambda v: None if _blank(v) else _choice(("male", "female", "unknown"), "性别")(v)
        ),
    ] = None
    birthday: OptDay = None
    opened_on: Day
    risk_level: Annotated[str, BeforeValidator(_choice(RISK_LEVELS, "风险等级"))]
    risk_assessed_on: Day
    risk_expires_on: OptDay = None
    investor_type: Annotated[str, BeforeValidator(_choice(INVESTOR_TYPES, "投资者类型"))]
    asset_tier: Annotated[str | None, BeforeValidator(_optional_text(16))] = None
    total_assets: Amount
    cash: Amount
    tags: Annotated[list[Text32], BeforeValidator(_json_list)] = Field(default_factory=list)
    marketing_opt_out: Annotated[bool, BeforeValidator(_bool)] = False
    holdings: Annotated[list[HoldingRecord], BeforeValidator(_json_list)] = Field(
        default_factory=list
    )
    margin: Annotated[MarginRecord | None, BeforeValidator(_json_object)] = None


class EventRecord(_Record):
    event_id: Text128
    customer_no: Text32
    type: Annotated[str, BeforeValidator(_text(32))]
    occurred_at: Annotated[datetime, BeforeValidator(_timestamp)]
    amount: Signed = None
    attrs: Annotated[dict[str, Any], BeforeValidator(lambda v: _json_object(v) or {})] = Field(
        default_factory=dict
    )


Kind = Literal["advisors", "customers", "events"]
RECORD_TYPES: dict[str, type[_Record]] = {
    "advisors": AdvisorRecord,
    "customers": CustomerRecord,
    "events": EventRecord,
}

_PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "string_type": "应为文本",
}


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) pairs for a failed record; nested fields read `holdings[2].quantity`."""
    out = []
    for err in exc.errors():
        parts: list[str] = []
        for loc in err["loc"]:
            if isinstance(loc, int):
                parts[-1] = f"{parts[-1]}[{loc + 1}]" if parts else f"[{loc + 1}]"
            else:
                parts.append(str(loc))
        field = ".".join(parts) or "记录"
        message = _PYDANTIC_MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        out.append((field, message))
    return out
