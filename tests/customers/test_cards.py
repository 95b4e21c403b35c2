"""The customer card in its three renderings, within WeCom's limits, masked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.app import Runtime
from bot.clock import FakeClock
from bot.customers import card, sample, service
from bot.wecom import cards
from bot.wecom.sandbox import Sandbox
from tests.customers.conftest import load_book
from tests.customers.test_ingest import good_customer

TZ = None


def view_of(engine: Engine, clock: FakeClock, customer_no: str) -> card.CustomerView:
    from zoneinfo import ZoneInfo

    with Session(engine) as s:
        customer = service.get_by_no(s, customer_no=customer_no)
        assert customer is not None
        return card.build_view(s, clock=clock, customer=customer, tz=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def heavy(engine: Engine, clock: FakeClock) -> card.CustomerView:
    """A customer with 200 holdings and 1,000 events, the heaviest card there is."""
    record = sample.customers(1, advisor_ids=["wangfang"], holdings=200, today=clock.now().date())[
        0
    ]
    record.update(
        customer_no="3100000001",
        name="欧阳娜娜",
        mobile="13812341234",
        tags=["高净值", "两融", "基金定投", "年长客户"],
        margin={"maintenance_ratio": 1.25},
    )
    events = sample.events(["3100000001"], 1000, now=clock.now())
    load_book(engine, clock, [record], events)
    return view_of(engine, clock, "3100000001")


def test_heavy_card_markdown_fits_2048_bytes_and_keeps_what_matters(
    heavy: card.CustomerView,
) -> None:
    text = card.markdown(heavy)
    data = text.encode("utf-8")
    assert len(data) <= cards.MARKDOWN_MAX_BYTES
    assert data.decode("utf-8") == text  # never cut inside a character
    assert "客户 欧***" in text and "138****1234" in text
    assert "建议：" in text and "维持担保比例 125%" in text
    assert "欧阳娜娜" not in text and "13812341234" not in text


def test_markdown_drops_the_least_important_sections_first(heavy: card.CustomerView) -> None:
    full = card.markdown(heavy)
    assert "标签：" in full and "近 7 日动态" in full
    short = card.markdown(heavy, limit=len(full.encode()) - 10)
    assert "标签：" not in short and "近 7 日动态" in short  # tags go first
    shortest = card.markdown(heavy, limit=400)
    assert "建议：" in shortest and "持仓" not in shortest and "近 7 日动态" not in shortest
    assert len(shortest.encode()) <= 400


def test_heavy_card_shows_top_holdings_alarms_first(heavy: card.CustomerView) -> None:
    assert len(heavy.holdings) == card.TOP_HOLDINGS and heavy.holdings_more == 195
    ranks = [card._severity(h.alarm) for h in heavy.holdings]
    assert ranks == sorted(ranks)
    assert len(heavy.events) <= 8 and all(e.label not in ("login", "search") for e in heavy.events)


async def test_template_card_is_accepted_by_wecom_field_checks(
    heavy: card.CustomerView, runtime: Runtime, sandbox: Sandbox
) -> None:
    body = card.template_card(heavy, task_id=card.new_task_id(heavy.customer_no))
    result = await runtime.client.send_message("wangfang", "template_card", body)
    assert result["errcode"] == 0
    assert body["main_title"]["title"] == "客户 欧***"
    assert len(body["button_list"]) == 3


def test_expired_assessment_is_flagged_and_drives_the_next_action(
    engine: Engine, clock: FakeClock
) -> None:
    today = clock.now().date()
    load_book(
        engine,
        clock,
        [
            good_customer(
                risk_assessed_on=(today - timedelta(days=800)).isoformat(),
                risk_expires_on=(today - timedelta(days=70)).isoformat(),
            )
        ],
    )
    view = view_of(engine, clock, "3100000001")
    assert view.risk_expired
    assert view.next_action.startswith("风险测评已过期")
    assert "测评已过期" in str(card.template_card(view, task_id="t1"))
    assert "过期" in card.html(view)


def test_html_card_is_escaped_and_masked(engine: Engine, clock: FakeClock) -> None:
    load_book(engine, clock, [good_customer(name="<b>李</b>", tags=["<script>x</script>"])])
    html = card.html(view_of(engine, clock, "3100000001"))
    assert "<script>x" not in html and "&lt;script&gt;" in html
