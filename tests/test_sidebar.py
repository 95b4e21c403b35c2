"""The chat-toolbar sidebar: OAuth and JS-SDK signing, access rules, and a real browser."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import serving
from bot.app import Runtime, create_app
from bot.clock import FakeClock
from bot.wecom.sandbox import Sandbox
from tests.browser import ARTIFACTS, launch_options, needs_chromium
from tests.conftest import app_settings, make_runtime
from tests.customers.conftest import load_book
from tests.customers.test_ingest import good_customer


@pytest.fixture
async def sidebar_runtime(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> AsyncIterator[Runtime]:
    load_book(
        engine,
        clock,
        [
            good_customer(
                "3100000001",
                name="张伟",
                mobile="13812341234",
                gender="male",
                external_userid="wmZhang",
            ),
            good_customer("3100000002", advisor_userid="lijun", external_userid="wmLi"),
        ],
    )
    rt = await make_runtime(
        engine, sandbox, clock, settings=app_settings(bot_sidebar_dev_login=True)
    )
    yield rt
    await rt.aclose()


@pytest.fixture
async def http(sidebar_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sidebar_runtime, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as client:
        yield client


async def test_wecom_oauth_logs_the_advisor_in_and_signs_agent_config(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    first = await http.get("/sidebar")
    assert first.status_code == 303
    oauth = urlparse(first.headers["location"])
    assert oauth.netloc == "open.weixin.qq.com"
    assert parse_qs(oauth.query)["appid"] == [sandbox.corp_id]
    code = sandbox.issue_oauth_code("wangfang")
    login = await http.get("/sidebar", params={"code": code})
    assert login.status_code == 303 and "code=" not in login.headers["location"]
    page = await http.get("/sidebar")
    assert page.status_code == 200 and "agentConfig" in page.text
    url = "http://bot/sidebar"
    sig = (await http.get("/sidebar/api/signature", params={"url": url})).json()
    plain = (
        f"jsapi_ticket={sandbox.agent_ticket}&noncestr={sig['nonceStr']}"
        f"&timestamp={sig['timestamp']}&url={url}"
    )
    assert sig["signature"] == hashlib.sha1(plain.encode()).hexdigest()
    card = await http.get("/sidebar/api/card", params={"external_userid": "wmZhang"})
    assert card.status_code == 200 and "客户 张*" in card.text


async def test_a_used_or_forged_oauth_code_is_refused(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    code = sandbox.issue_oauth_code("wangfang")
    await http.get("/sidebar", params={"code": code})
    http.cookies.clear()
    again = await http.get("/sidebar", params={"code": code})
    assert again.status_code == 403 and "身份校验失败" in again.text


async def test_another_advisors_customer_is_refused_and_logged(
    http: httpx.AsyncClient, engine: Engine
) -> None:
    await http.get("/sidebar", params={"dev_user": "wangfang"})
    resp = await http.get("/sidebar/api/card", params={"external_userid": "wmLi"})
    assert resp.status_code == 403
    assert resp.json()["message"] == "该客户不在您的服务名单中，无法查看"
    unbound = await http.get("/sidebar/api/card", params={"external_userid": "wmNobody"})
    assert unbound.status_code == 404
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT action, customer_no, allowed FROM access_log ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("sidebar_view", "3100000002", False),
        ("sidebar_view", None, False),
    ]


async def test_no_card_without_a_session_and_no_dev_login_in_production(
    engine: Engine, sandbox: Sandbox, clock: FakeClock, http: httpx.AsyncClient
) -> None:
    assert (
        await http.get("/sidebar/api/card", params={"external_userid": "wmZhang"})
    ).status_code == 401
    rt = await make_runtime(engine, sandbox, clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt, run_workers=False)), base_url="http://bot"
    ) as prod:
        resp = await prod.get("/sidebar", params={"dev_user": "wangfang"})
    await rt.aclose()
    assert resp.status_code == 403 and "开发登录未启用" in resp.text


@needs_chromium
async def test_the_sidebar_in_headless_chromium(
    sidebar_runtime: Runtime, seeded: Any, engine: Engine
) -> None:
    from playwright.async_api import async_playwright

    server = await serving.start(create_app(sidebar_runtime, run_workers=False))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_options())
            page = await browser.new_page(viewport={"width": 420, "height": 900})
            await page.goto(f"{server.url}/sidebar?dev_user=wangfang&external_userid=wmZhang")
            card = page.locator("article.customer-card")
            await card.wait_for(timeout=15_000)
            assert await card.get_attribute("data-customer") == "3100000001"
            text = await card.inner_text()
            assert "客户 张*" in text and "138****1234" in text and "13812341234" not in text
            script = page.locator(".scripts .script").first
            await script.wait_for(timeout=15_000)
            sent_id = await script.get_attribute("data-script")
            await script.locator("button.send").click()
            await page.locator("button.send:has-text('已发送')").wait_for(timeout=15_000)
            await page.screenshot(path=str(ARTIFACTS / "sidebar-card.png"), full_page=True)

            other = await browser.new_page()
            await other.goto(f"{server.url}/sidebar?dev_user=wangfang&external_userid=wmLi")
            error = other.locator("#error")
            await error.wait_for(timeout=15_000)
            assert await error.inner_text() == "该客户不在您的服务名单中，无法查看"
            assert await other.locator("article.customer-card").count() == 0
            await other.screenshot(path=str(ARTIFACTS / "sidebar-refused.png"))
            await browser.close()
    finally:
        await server.stop()
    with engine.connect() as conn:
        logged = conn.execute(
            sa.text(
                "SELECT script_id, version, customer_no, channel, action FROM script_delivery "
                "WHERE action = 'sent'"
            )
        ).all()
    assert [tuple(r) for r in logged] == [(sent_id, 1, "3100000001", "sidebar", "sent")]
