"""Loading the customer book: files, the HQ API, bad rows, idempotence and history."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.engine import Engine

from bot.app import Runtime, create_app
from bot.clock import FakeClock
from bot.customers import sample
from bot.customers.feeds import Row, read_feed
from bot.customers.ingest import ingest
from tests.conftest import app_settings, make_runtime, table_counts

ADVISORS = sample.advisors(2)


def good_customer(no: str = "3100000001", **changes: Any) -> dict[str, Any]:
    record = sample.customers(1, advisor_ids=["wangfang"])[0]
    record.update(customer_no=no, **changes)
    return record


def load(engine: Engine, clock: FakeClock, rows: list[Row]):  # type: ignore[no-untyped-def]
    return ingest(engine, rows, clock=clock, source="feed")


def rows_of(kind: str, records: list[dict[str, Any]]) -> list[Row]:
    return [Row(kind, i, r) for i, r in enumerate(records, start=1)]


@pytest.fixture
def book(engine: Engine, clock: FakeClock) -> Engine:
    load(engine, clock, rows_of("advisors", ADVISORS))
    return engine


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"advisor_userid": "ghost"}, "客户记录 第 2 行 advisor_userid：顾问 'ghost' 不存在"),
        (
            {"risk_level": "C7"},
            "客户记录 第 2 行 risk_level：风险等级必须是 C1、C2、C3、C4、C5 之一，收到 'C7'",
        ),
        (
            {"opened_on": "2021/03/05"},
            "客户记录 第 2 行 opened_on：日期格式应为 YYYY-MM-DD，收到 '2021/03/05'",
        ),
        (
            {
                "holdings": [
                    {
                        "code": "600519",
                        "name": "贵州茅台",
                        "kind": "stock",
                        "risk_level": "R4",
                        "quantity": -100,
                        "cost": 1,
                        "market_value": 1,
                    }
                ]
            },
            "客户记录 第 2 行 holdings[1].quantity：不能为负数，收到 -100",
        ),
        ({"mobile": "12345"}, "客户记录 第 2 行 mobile：应为 11 位中国大陆手机号"),
    ],
)
def test_a_bad_row_is_rejected_with_row_field_and_reason_while_good_rows_land(
    book: Engine, clock: FakeClock, changes: dict[str, Any], expected: str
) -> None:
    records = [
        good_customer("3100000001"),
        good_customer("3100000002", **changes),
        good_customer("3100000003"),
    ]
    report = load(book, clock, rows_of("customers", records))
    assert [str(r) for r in report.rejections] == [expected]
    assert report.of("customers").inserted == 2
    with book.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT customer_no FROM customer")).scalars())
    assert stored == {"3100000001", "3100000003"}


def test_reimporting_the_same_records_changes_nothing(book: Engine, clock: FakeClock) -> None:
    customers = sample.customers(50, advisor_ids=["wangfang", "lijun"])
    events = sample.events([c["customer_no"] for c in customers[:5]], 3)
    rows = rows_of("customers", customers) + rows_of("events", events)
    first = load(book, clock, rows)
    before = table_counts(book)
    clock.advance(3600)
    again = load(book, clock, rows)
    assert first.of("customers").inserted == 50 and first.of("events").inserted == 15
    assert vars(again.of("customers")) == {"inserted": 0, "updated": 0, "unchanged": 50}
    assert vars(again.of("events")) == {"inserted": 0, "updated": 0, "unchanged": 15}
    assert table_counts(book) == before


def test_service_relevant_changes_are_kept_as_history(book: Engine, clock: FakeClock) -> None:
    load(book, clock, rows_of("customers", [good_customer(risk_level="C2")]))
    load(
        book, clock, rows_of("customers", [good_customer(risk_level="C4", advisor_userid="lijun")])
    )
    with book.connect() as conn:
        history = conn.execute(
            sa.text("SELECT field, old_value, new_value FROM customer_history ORDER BY field")
        ).all()
    assert [tuple(h) for h in history] == [
        ("advisor_userid", "wangfang", "lijun"),
        ("risk_level", "C2", "C4"),
    ]


def test_a_binding_made_through_wecom_survives_a_feed_without_it(
    book: Engine, clock: FakeClock
) -> None:
    load(book, clock, rows_of("customers", [good_customer()]))
    with book.begin() as conn:
        conn.execute(sa.text("UPDATE customer SET external_userid = 'wmBound'"))
    load(book, clock, rows_of("customers", [good_customer(cash=1.0)]))
    with book.connect() as conn:
        assert conn.execute(sa.text("SELECT external_userid FROM customer")).scalar() == "wmBound"


def test_events_for_unknown_customers_and_naive_times_are_rejected(
    book: Engine, clock: FakeClock
) -> None:
    load(book, clock, rows_of("customers", [good_customer()]))
    report = load(
        book,
        clock,
        rows_of(
            "events",
            [
                {
                    "event_id": "e1",
                    "customer_no": "3100000001",
                    "type": "withdrawal",
                    "occurred_at": "2026-11-20T10:32:00+08:00",
                    "amount": 285000,
                },
                {
                    "event_id": "e2",
                    "customer_no": "9999",
                    "type": "deposit",
                    "occurred_at": "2026-11-20T10:32:00+08:00",
                },
                {
                    "event_id": "e3",
                    "customer_no": "3100000001",
                    "type": "login",
                    "occurred_at": "2026-11-20T10:32:00",
                },
            ],
        ),
    )
    assert [str(r) for r in report.rejections] == [
        "事件记录 第 2 行 customer_no：客户 '9999' 不存在",
        "事件记录 第 3 行 occurred_at：时间缺少时区偏移（如 +08:00）：'2026-11-20T10:32:00'",
    ]


def _write(path: Path, fmt: str, records: list[dict[str, Any]]) -> None:
    flat = [
        {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            for k, v in r.items()
        }
        for r in records
    ]
    if fmt == "ndjson":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(flat[0]))
            writer.writeheader()
            writer.writerows(flat)
    else:
        book = Workbook()
        sheet = book.active
        sheet.append(list(flat[0]))
        for r in flat:
            sheet.append([v for v in r.values()])
        book.save(path)


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "xlsx"])
def test_every_file_format_reports_the_row_a_person_finds_in_the_file(
    book: Engine, clock: FakeClock, tmp_path: Path, fmt: str
) -> None:
    records = [good_customer("3100000001"), good_customer("3100000002", risk_level="C7")]
    path = tmp_path / f"customers.{fmt}"
    _write(path, fmt, records)
    report = load(book, clock, list(read_feed(path, "customers")))
    expected_row = 2 if fmt == "ndjson" else 3  # CSV and xlsx: the header is row 1
    assert [(r.row, r.field) for r in report.rejections] == [(expected_row, "risk_level")]
    assert report.of("customers").inserted == 1


def _cli(args: list[str], tmp_path: Path, db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    env["DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "bot", "ingest", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_ingest_command_summarises_and_exits_1_on_rejections(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    doc = tmp_path / "feed.json"
    doc.write_text(
        json.dumps(
            {
                "advisors": ADVISORS,
                "customers": [
                    good_customer("3100000001"),
                    good_customer("3100000002", risk_level="C7"),
                ],
            },
            ensure_ascii=False,
        )
    )
    first = _cli([str(doc), "--progress"], tmp_path, db)
    assert first.returncode == 1
    assert "客户记录 第 2 行 risk_level：风险等级必须是" in first.stdout
    assert "客户：新增 1，更新 0，未变 0；拒绝 1 行" in first.stdout
    assert "已处理" in first.stderr
    doc.write_text(json.dumps({"customers": [good_customer("3100000001")]}, ensure_ascii=False))
    again = _cli([str(doc)], tmp_path, db)
    assert again.returncode == 0
    assert "客户：新增 0，更新 0，未变 1；拒绝 0 行" in again.stdout
    missing_kind = _cli([str(tmp_path / "x.csv")], tmp_path, db)
    assert missing_kind.returncode == 2 and "文件不存在" in missing_kind.stderr


@pytest.fixture
async def hq(engine: Engine, sandbox: Any, clock: FakeClock):  # type: ignore[no-untyped-def]
    rt: Runtime = await make_runtime(
        engine, sandbox, clock, settings=app_settings(hq_api_token="hq-token-123")
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt, run_workers=False)), base_url="http://bot"
    ) as http:
        yield http
    await rt.aclose()


async def test_hq_api_loads_batches_with_a_bearer_token(hq: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer hq-token-123"}
    assert (await hq.post("/hq/v1/advisors", json=ADVISORS)).status_code == 401
    assert (
        await hq.post("/hq/v1/advisors", json=ADVISORS, headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    resp = await hq.post("/hq/v1/advisors", json={"records": ADVISORS}, headers=auth)
    assert resp.status_code == 200 and resp.json()["counts"]["advisors"]["inserted"] == 3
    resp = await hq.post(
        "/hq/v1/customers",
        headers=auth,
        json=[good_customer("3100000001"), good_customer("3100000002", advisor_userid="ghost")],
    )
    body = resp.json()
    assert body["counts"]["customers"]["inserted"] == 1
    assert body["rejected"] == [
        {"kind": "customers", "row": 2, "field": "advisor_userid", "reason": "顾问 'ghost' 不存在"}
    ]
    too_many = await hq.post("/hq/v1/events", headers=auth, json=[{}] * 10_001)
    assert too_many.status_code == 413 and "10000" in too_many.json()["message"]
    bad_json = await hq.post(
        "/hq/v1/events", headers={**auth, "content-type": "application/json"}, content=b"{not json"
    )
    assert bad_json.status_code == 400
    assert "/hq/v1/customers" in (await hq.get("/openapi.json")).json()["paths"]
