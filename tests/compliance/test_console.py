"""The compliance console: only compliance staff, four eyes in the browser, the delivery log."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import serving
from bot.app import Runtime, create_app
from bot.clock import FakeClock
from bot.compliance.check import Checker
from bot.customers.feeds import Row
from bot.customers.ingest import ingest
from bot.knowledge.base import Knowledge
from bot.scripts import service
from bot.wecom.sandbox import Sandbox
from tests.browser import ARTIFACTS, launch_options, needs_chromium
from tests.conftest import app_settings, make_runtime

STAFF = [
    {"userid": "zhoumin", "name": "周敏", "branch": "合规部", "role": "compliance"},
    {"userid": "liqing", "name": "李青", "branch": "合规部", "role": "compliance"},
    {"userid": "wangfang", "name": "王芳", "branch": "营业部", "role": "advisor"},
]


@pytest.fixture
async def console(
    engine: Engine,
    sandbox: Sandbox,
    clock: FakeClock,
    knowledge: Knowledge,
    checker: Checker,
    seeded: Any,
) -> AsyncIterator[Runtime]:
    ingest(
        engine, [Row("advisors", i, a) for i, a in enumerate(STAFF, 1)], clock=clock, source="feed"
    )
    with Session(engine, expire_on_commit=False) as session:
        approved = service.get_or_raise(session, script_id="S-M46-01", version=1)
        content = {
            **approved.content(),
            "body": approved.body.replace(
                "想了解一下是否有资金安排上需要我协助的地方", "想问问您是否需要我协助做资金安排"
            ),
        }
        v2 = service.create_draft(
            session, clock=clock, content=content, script_id="S-M46-01", author="liqing"
        )
        service.submit(
            session, clock=clock, row=v2, actor="liqing", knowledge=knowledge, checker=checker
        )
        session.commit()
    rt = await make_runtime(
        engine, sandbox, clock, settings=app_settings(bot_sidebar_dev_login=True)
    )
    yield rt
    await rt.aclose()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


async def test_only_compliance_staff_may_use_the_console(console: Runtime) -> None:
    app = create_app(console, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as http:
        assert (await http.get("/compliance/lexicon")).status_code == 401
        await http.get("/compliance/", params={"dev_user": "wangfang"})
        refused = await http.get("/compliance/")
        assert refused.status_code == 403 and "仅合规人员" in refused.json()["message"]


async def test_review_approve_with_csrf_and_delivery_export(console: Runtime) -> None:
    app = create_app(console, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot", follow_redirects=True
    ) as http:
        queue = await http.get("/compliance/", params={"dev_user": "zhoumin"})
        assert "S-M46-01" in queue.text and "待审核话术（1）" in queue.text
        page = await http.get("/compliance/scripts/S-M46-01/2")
        assert '<span class="add">' in page.text and '<span class="del">' in page.text
        forged = await http.post(
            "/compliance/scripts/S-M46-01/2/approve",
            data={"csrf": "0" * 32, "compliance_ref": "HG-X"},
        )
        assert forged.status_code == 403
        done = await http.post(
            "/compliance/scripts/S-M46-01/2/approve",
            data={
                "csrf": _csrf(page.text),
                "compliance_ref": "HG-2026-2001",
                "comment": "措辞更自然",
            },
        )
        assert done.status_code == 200 and "已批准 S-M46-01 v2" in done.text
        lexicon = await http.get("/compliance/lexicon")
        assert "稳赚不赔" in lexicon.text and "广告法25(一)" in lexicon.text
        with Session(console.engine) as session:
            row = service.get_or_raise(session, script_id="S-M46-02", version=1)
            service.log_delivery(
                session,
                clock=console.clock,
                row=row,
                advisor_userid="wangfang",
                customer_no="3100000000",
                channel="chat",
                action="shown",
            )
            session.commit()
        export = await http.get("/compliance/deliveries.xlsx")
        sheet = load_workbook(io.BytesIO(export.content)).active
        assert [c.value for c in sheet[2]][1:] == [
            "S-M46-02",
            1,
            "wangfang",
            "3100000000",
            "chat",
            "shown",
        ]


@needs_chromium
async def test_four_eyes_in_headless_chromium(console: Runtime) -> None:
    from playwright.async_api import async_playwright

    server = await serving.start(create_app(console, run_workers=False))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_options())
            author = await browser.new_page()
            await author.goto(f"{server.url}/compliance/?dev_user=liqing")
            await author.click("text=S-M46-01")
            await author.fill("#compliance_ref", "HG-2026-2001")
            await author.click("#approve")
            assert "审核人不能是作者本人" in await author.inner_text("#error")

            reviewer = await browser.new_page(viewport={"width": 1100, "height": 900})
            await reviewer.goto(f"{server.url}/compliance/?dev_user=zhoumin")
            assert "待审核话术（1）" in await reviewer.inner_text("main")
            await reviewer.click("text=S-M46-01")
            assert await reviewer.locator("#diff .add").count() >= 1
            await reviewer.screenshot(path=str(ARTIFACTS / "compliance-diff.png"), full_page=True)
            await reviewer.fill("#compliance_ref", "HG-2026-2001")
            await reviewer.fill("#approve_comment", "措辞更自然，同意")
            await reviewer.click("#approve")
            assert await reviewer.inner_text("#status") == "已批准"
            assert "已批准 S-M46-01 v2" in await reviewer.inner_text("#notice")
            await browser.close()
    finally:
        await server.stop()
    with Session(console.engine) as session:
        statuses = [v.status for v in service.versions(session, script_id="S-M46-01")]
    assert statuses == ["retired", "approved"]
