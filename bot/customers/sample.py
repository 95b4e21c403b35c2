"""A generated, realistic-looking customer book: for the demo, the tests and the benchmarks.

Deterministic for a given seed. Mobiles are in the 139 0000 xxxx range and names are common
surnames with generic given names: no real person's data.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "文",
    "华",
    "玉兰",
]
PRODUCTS = [
    ("600519", "贵州茅台", "stock", "R4"),
    ("000001", "平安银行", "stock", "R4"),
    ("300750", "宁德时代", "stock", "R4"),
    ("510300", "沪深300ETF", "fund", "R3"),
    ("110011", "易方达中小盘", "fund", "R3"),
    ("000198", "天弘余额宝货币", "fund", "R1"),
    ("019547", "24国债09", "bond", "R1"),
    ("113052", "兴业转债", "cb", "R3"),
    ("WM2024A", "稳健理财90天", "wealth", "R2"),
    ("10005678", "50ETF购12月", "option", "R5"),
]
EVENT_TYPES = [
    "deposit",
    "withdrawal",
    "trade",
    "login",
    "search",
    "transfer_failed",
    "ipo_allotted",
    "ipo_payment_due",
]


def advisors(n_advisors: int = 3) -> list[dict[str, Any]]:
    out = [
        {
            "userid": "zhaolei",
            "name": "赵磊",
            "branch": "上海陆家嘴营业部",
            "role": "lead",
            "lead_userid": None,
        }
    ]
    names = [("wangfang", "王芳"), ("lijun", "李军"), ("chenjing", "陈静"), ("liuqiang", "刘强")]
    for userid, name in names[:n_advisors]:
        out.append(
            {
                "userid": userid,
                "name": name,
                "branch": "上海陆家嘴营业部",
                "role": "advisor",
                "lead_userid": "zhaolei",
            }
        )
    return out


def customers(
    n: int, *, advisor_ids: list[str], seed: int = 7, holdings: int = 3, today: date | None = None
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    today = today or date(2026, 11, 20)
    out = []
    for i in range(n):
        assessed = today - timedelta(days=rng.randint(30, 900))
        total = rng.choice([30_000, 120_000, 480_000, 1_500_000, 6_000_000]) * rng.uniform(0.8, 1.2)
        picks = (
            rng.sample(PRODUCTS, k=min(holdings, len(PRODUCTS)))
            if holdings <= 10
            else [PRODUCTS[j % len(PRODUCTS)] for j in range(holdings)]
        )
        rows = []
        for j, (code, name, kind, risk) in enumerate(picks):
            qty = rng.randint(1, 50) * 100
            cost = round(rng.uniform(5, 200), 2)
            price = cost * rng.uniform(0.6, 1.4)
            rows.append(
                {
                    "code": code if holdings <= 10 else f"{code}{j:03d}",
                    "name": name,
                    "kind": kind,
                    "risk_level": risk,
                    "quantity": qty,
                    "cost": round(cost * qty, 2),
                    "market_value": round(price * qty, 2),
                    "day_change_pct": round(rng.uniform(-10, 10), 2),
                    "maturity_date": (today + timedelta(days=rng.randint(1, 40))).isoformat()
                    if kind == "wealth"
                    else None,
                }
            )
        out.append(
            {
                "customer_no": f"31{i:08d}",
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "mobile": f"1390000{i % 10000:04d}" if i < 10000 else f"139{i:08d}"[-11:],
                "advisor_userid": advisor_ids[i % len(advisor_ids)],
                "gender": rng.choice(["male", "female"]),
                "birthday": date(
                    rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)
                ).isoformat(),
                "opened_on": (today - timedelta(days=rng.randint(100, 4000))).isoformat(),
                "risk_level": rng.choice(["C1", "C2", "C3", "C4", "C5"]),
                "risk_assessed_on": assessed.isoformat(),
                "risk_expires_on": (assessed + timedelta(days=730)).isoformat(),
                "investor_type": "professional" if rng.random() < 0.03 else "ordinary",
                "total_assets": round(total, 2),
                "cash": round(total * rng.uniform(0.05, 0.4), 2),
                "tags": rng.sample(
                    ["高净值", "两融", "基金定投", "新客户", "沉睡", "年长客户"], k=2
                ),
                "marketing_opt_out": rng.random() < 0.05,
                "holdings": rows,
                "margin": {"maintenance_ratio": round(rng.uniform(1.2, 3.0), 4)}
                if rng.random() < 0.2
                else None,
            }
        )
    return out


def events(
    customer_nos: list[str], per_customer: int, *, seed: int = 11, now: datetime | None = None
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = now or datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for no in customer_nos:
        for k in range(per_customer):
            kind = rng.choice(EVENT_TYPES)
            out.append(
                {
                    "event_id": f"ev-{no}-{k}",
                    "customer_no": no,
                    "type": kind,
                    "occurred_at": (
                        now - timedelta(minutes=rng.randint(0, 60 * 24 * 30))
                    ).isoformat(),
                    "amount": round(rng.uniform(1000, 300000), 2)
                    if kind in ("deposit", "withdrawal", "trade")
                    else None,
                    "attrs": {},
                }
            )
    return out
